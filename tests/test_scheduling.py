"""Local scheduling: the default profile takes jobs greedily by the rules' priorities, and every
priority in workflow/rules/common.smk belongs to the rule that uses it.

Why: a renamed rule would silently drop out of the order (Snakemake accepts any integer), and a rule
reading another rule's entry would run in the wrong place; the order keeps a one-year rerun from ending
on one late job while the other core idles."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "slurm"))
import profile_rules  # noqa: E402  (the one reader of the rules files)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "workflow" / "rules"


def priorities() -> dict[str, int]:
    """The PRIORITY dict of common.smk, read as a Python literal."""
    text = (RULES / "common.smk").read_text()
    literal = re.search(r"^PRIORITY = (\{.*?^\})", text, flags=re.S | re.M)
    assert literal, "workflow/rules/common.smk defines no PRIORITY dict"
    return ast.literal_eval(literal.group(1))


def rule_priorities() -> dict[str, str]:
    """Rule -> the PRIORITY key its `priority:` directive reads."""
    found = {name: re.search(r'^\s+priority: PRIORITY\["(\w+)"\]', body, flags=re.M)
             for name, body in profile_rules.rule_bodies().items()}  # fmt: skip
    return {name: match.group(1) for name, match in found.items() if match}


def test_every_priority_is_used_by_its_own_rule() -> None:
    used = rule_priorities()
    assert {rule: key for rule, key in used.items() if rule != key} == {}
    assert set(priorities()) == set(used)


def test_the_per_year_chain_runs_depth_first_and_the_collectors_first() -> None:
    p = priorities()
    assert p["shocks_year"] > p["mfa_year"] > p["sensitivity_year"] > p["clean_trade"] > 0
    assert p["collect_mfa"] > p["shocks_year"] and p["stocks"] > p["fig_quality"]


def test_the_default_profile_schedules_greedily() -> None:
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "profile.yaml").read_text())
    assert profile["scheduler"] == "greedy"
