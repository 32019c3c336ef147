"""The SLURM profile's grouping against the workflow's rules (used by `make test-slurm` and the unit tests).

Why: the profile names rules by hand (`groups: - rule=group`), and rules get renamed, split and added.
A group naming a rule that no longer exists is silently ignored by Snakemake, and a rule left out of
every group becomes one SLURM job per wildcard: both undo the cluster-sized jobs without an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "slurm" / "profile.yaml"
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
# A rule with one of these directives runs a job; one without (a pure target like `all`) is done by
# Snakemake itself on the submitting node and never becomes a SLURM job.
ACTIONS = ("script", "shell", "run", "notebook", "wrapper", "cwl")


def load_profile(path: Path = PROFILE) -> dict:
    """The profile as Snakemake reads it (YAML)."""
    return yaml.safe_load(path.read_text())


def rule_groups(profile: dict) -> dict[str, str]:
    """Rule -> group from the profile's `groups` entries (`rule=group`)."""
    pairs = [entry.split("=", 1) for entry in profile.get("groups", [])]
    return {rule.strip(): group.strip() for rule, group in pairs}


def group_components(profile: dict) -> dict[str, int]:
    """Group -> how many unconnected parts of it one job may take (`group-components` entries)."""
    pairs = [entry.split("=", 1) for entry in profile.get("group-components", [])]
    return {group.strip(): int(count) for group, count in pairs}


def rule_bodies(files: list[Path] = RULE_FILES) -> dict[str, str]:
    """Every rule of the workflow -> the text of its block (its directives)."""
    bodies: dict[str, str] = {}
    for path in files:
        # split at top-level `rule NAME:` lines: [text, name, body, name, body, ...]
        parts = re.split(r"^rule (\w+):", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            bodies[name] = re.split(r"^\S", body, maxsplit=1, flags=re.M)[0]  # up to the next top-level line
    return bodies


def workflow_rules(files: list[Path] = RULE_FILES) -> dict[str, bool]:
    """Every rule of the workflow -> whether it runs a job (has an action directive)."""
    action = re.compile(rf"^\s+({'|'.join(ACTIONS)}):", flags=re.M)
    return {name: bool(action.search(body)) for name, body in rule_bodies(files).items()}


def grouping_problems(profile: dict, rules: dict[str, bool]) -> list[str]:
    """What is out of step between the profile's grouping and the rules (empty = in step)."""
    groups = rule_groups(profile)
    problems = [f"profiles/slurm groups rule '{rule}', which the workflow does not define"
                for rule in sorted(set(groups) - set(rules))]
    problems += [f"rule '{rule}' runs jobs but is in no group of profiles/slurm: add `- {rule}=<group>`"
                 for rule, runs in sorted(rules.items()) if runs and rule not in groups]
    known = set(groups.values())
    problems += [f"profiles/slurm group-components names group '{group}', which no rule is in"
                 for group in sorted(set(group_components(profile)) - known)]
    return problems
