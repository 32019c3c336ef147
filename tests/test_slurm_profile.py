"""The SLURM profile (profiles/slurm) stays in step with the rules; its real run is `make test-slurm`.

Why: Snakemake ignores a group entry whose rule was renamed, and a rule in no group becomes one SLURM
job per wildcard, so the cluster-sized jobs would be lost without any error (tests/slurm/profile_rules.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "slurm"))
import profile_rules  # noqa: E402
import run_slurm_check  # noqa: E402


def test_profile_parses_as_a_slurm_profile_with_groups() -> None:
    profile = profile_rules.load_profile()
    assert profile["executor"] == "slurm"
    groups = profile_rules.rule_groups(profile)
    assert groups["clean_trade"] == groups["mfa_year"] == "year"  # one job per year, not one per step
    assert set(profile_rules.group_components(profile)) <= set(groups.values())
    # no placeholder account or partition: an empty value makes sbatch fail at a real site
    assert not [r for r in profile["default-resources"] if r.split("=", 1)[1] in ('""', "''", "")]


def test_every_grouped_rule_exists_and_every_job_rule_is_grouped() -> None:
    problems = profile_rules.grouping_problems(profile_rules.load_profile(), profile_rules.workflow_rules())
    assert problems == []


def test_grouping_check_catches_a_renamed_and_an_ungrouped_rule() -> None:
    profile = {"groups": ["clean_trade=year", "old_name=year"], "group-components": ["year=1", "gone=2"]}
    rules = {"clean_trade": True, "mfa_year": True, "all": False}
    problems = profile_rules.grouping_problems(profile, rules)
    assert any("'old_name'" in p and "does not define" in p for p in problems)
    assert any("'mfa_year'" in p and "no group" in p for p in problems)
    assert any("'gone'" in p for p in problems)
    assert not any("'all'" in p for p in problems)  # a pure target rule never becomes a job


def test_rule_reader_agrees_with_snakemake_list_rules() -> None:
    """The cheap reader of the rules files sees exactly the rules Snakemake defines."""
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {line.strip() for line in listed.stdout.splitlines() if line.strip() and " " not in line.strip()}
    assert names == set(profile_rules.workflow_rules())


def test_slurm_run_evidence_is_read_from_the_executor_log(tmp_path: Path) -> None:
    log = ("Job 3 has been submitted with SLURM jobid 12 (log: /w/.snakemake/slurm_logs/group_year/12.log).\n"
           "Job 4 has been submitted with SLURM jobid 13 (log: /w/.snakemake/slurm_logs/rule_stocks/13.log).\n")
    subs = run_slurm_check.submissions(log)
    assert [(s.jobid, s.name) for s in subs] == [("12", "group_year"), ("13", "rule_stocks")]
    jobcomp = tmp_path / "jobcomp.log"
    jobcomp.write_text("JobId=12 JobState=COMPLETED Partition=reeflow ExitCode=0:0\n"
                       "JobId=13 JobState=FAILED Partition=reeflow ExitCode=1:0\n")
    logs = tmp_path / ".snakemake" / "slurm_logs"
    (logs / "group_year").mkdir(parents=True)
    (logs / "group_year" / "12.log").write_text("Finished jobid: 2 (Rule: clean_trade)\n")
    problems = run_slurm_check.check_slurm_jobs(tmp_path, log, jobcomp, {"clean_trade": 1, "stocks": 1, "all": 1})
    assert any("job 13 " in p and "FAILED" in p for p in problems)
    assert any("job 13 " in p and "no log" in p for p in problems)
    assert any("['stocks']" in p for p in problems)  # its job failed and left no record of the rule
    assert not any("job 12 " in p for p in problems)  # not "12" alone: tmp_path may hold it (pytest-1712)
    queue = run_slurm_check.check_queue(subs, {"12": "COMPLETED", "13": "FAILED"})
    assert queue == ["squeue lists SLURM job 13 (rule_stocks) as FAILED"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_run_comparison_reports_a_changed_table(tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    for run, value in (("local", 1.0), ("slurm", 1.5)):
        path = tmp_path / run / "results" / f"t{suffix}"
        path.parent.mkdir(parents=True)
        table = pd.DataFrame({"x": [value]})
        table.to_parquet(path) if suffix == ".parquet" else table.to_csv(path, index=False)
    compared, problems = run_slurm_check.compare_runs(tmp_path / "local", tmp_path / "slurm")
    assert compared == 1
    assert problems and f"results/t{suffix} differs" in problems[0]
