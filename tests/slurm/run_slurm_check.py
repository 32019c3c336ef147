"""`make test-slurm`: the .test/ demo on a real single-node SLURM, checked against a local run.

Why: the cluster profile is one of the workflow's three uses, and only a real scheduler rejects what a
local stand-in accepts (memory and runtime requests, partitions, job names, log paths, status polling,
group jobs larger than a node). This script
  1. starts a single-node SLURM on this machine (tests/slurm/start-cluster.sh, in a temporary folder);
  2. runs the SYNTHETIC demo locally (`--cores 2`, the default profile) and through SLURM
     (`--workflow-profile profiles/slurm`, plus only what this one-node test cluster needs);
  3. checks that the demo's jobs ran as SLURM jobs: each submission the executor reported is listed
     by squeue and in slurmctld's job-completion records (jobcomp/filetxt) as COMPLETED, exit 0, on
     this cluster's partition, and has its log under .snakemake/slurm_logs; every rule with an action
     finished inside one of them; grouping kept them to a handful;
  4. compares every table the two runs wrote (pandas.testing), then stops the cluster, whatever
     happened (leaving no daemon behind).
Exit status 0 = passed; 1 = a check failed; 3 = SLURM, munge or the executor plugin is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pandas.testing import assert_frame_equal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
import profile_rules  # noqa: E402

from reeflow.io import read_table  # noqa: E402  (the checked reader: empty CSVs, codes kept as text)
from workflow_helpers import make_demo_dir, planned_jobs, snakemake  # noqa: E402

PROFILE = profile_rules.PROFILE.parent
PARTITION = "reeflow"  # the partition start-cluster.sh defines
# Pure target rules have no action: Snakemake runs them itself, never as a SLURM job.
TARGET_RULES = {rule for rule, runs in profile_rules.workflow_rules().items() if not runs}
# At most this many SLURM jobs for the demo's four years: 10 with the profile's groups (acquire, inputs,
# one per year, tables, checks, two of figures); without groups it would be one per job, about 45.
MAX_SLURM_JOBS = 12
SLURM_TIMEOUT_S = 600
AIM_S = 120  # the demo through SLURM, on an idle machine like the CI's (reported, not enforced: shared CPUs)
TABLE_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class Submission:
    """One SLURM job the executor submitted: its id and what it ran (a rule or a group)."""

    jobid: str
    name: str


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the test (the SLURM and munge daemons, the executor plugin)."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
               if shutil.which(tool) is None]
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        missing.append("snakemake-executor-plugin-slurm (pip install -e '.[slurm]')")
    return missing


def start_cluster(state: Path) -> dict[str, str]:
    """Start the test cluster; return the environment that points SLURM's commands at it."""
    subprocess.run(["bash", str(HERE / "start-cluster.sh"), str(state)], check=True)
    return {"SLURM_CONF": str(state / "slurm.conf"), "PATH": f"{state / 'bin'}:{os.environ['PATH']}"}


def stop_cluster(state: Path) -> bool:
    """Stop the test cluster; True when nothing of it is left running."""
    return subprocess.run(["bash", str(HERE / "stop-cluster.sh"), str(state)]).returncode == 0


def slurm_profile_args() -> list[str]:
    """Command-line additions to profiles/slurm for the one-node test cluster (the command line wins).

    The profile's default-resources are kept and this cluster's partition is added, so the profile stays
    the one place for them; no accounting database here, so no account and squeue as the status command;
    a 1 s first status check (the plugin's default is 40 s, meant for big clusters); one CPU per group
    job (the executor runs a group's rules one after another), so that the node runs as many group jobs
    at once as it has CPUs; successful jobs keep their SLURM logs, which the test reads.
    """
    profile = profile_rules.load_profile()
    resources = [r for r in profile["default-resources"] if not r.startswith("slurm_partition=")]
    return [
        "--workflow-profile", str(PROFILE),
        "--default-resources", *resources, f"slurm_partition={PARTITION}",
        "--slurm-no-account",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--slurm-keep-successful-logs",
        "--retries", "0",
        "--latency-wait", "10",
        "--cores", "1",
    ]


def run_on_slurm(work: Path, cluster_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The demo through profiles/slurm: like workflow_helpers.snakemake, without its `--cores 2`."""
    cmd = [sys.executable, "-m", "snakemake", *slurm_profile_args(), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--config", f"commodities={ROOT / 'config' / 'commodities.csv'}"]
    env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"} | cluster_env
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=SLURM_TIMEOUT_S, env=env)


def submissions(log: str) -> list[Submission]:
    """The SLURM jobs the executor reports ("Job 3 has been submitted with SLURM jobid 12 (log: ...)")."""
    found = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)", log)
    return [Submission(jobid=jobid, name=Path(path).parent.name) for jobid, path in found]


def completion_records(jobcomp: Path) -> dict[str, dict[str, str]]:
    """slurmctld's job-completion records (jobcomp/filetxt), by job id."""
    records = {}
    for line in jobcomp.read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "JobId" in fields:
            records[fields["JobId"]] = fields
    return records


def queue_states(cluster_env: dict[str, str]) -> dict[str, str]:
    """Job id -> state as squeue reports it (finished jobs stay listed for MinJobAge; the executor's status
    command here)."""
    env = os.environ | cluster_env
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i %T"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def check_queue(subs: list[Submission], states: dict[str, str]) -> list[str]:
    """Submissions that squeue does not list as COMPLETED."""
    return [f"squeue lists SLURM job {sub.jobid} ({sub.name}) as {states.get(sub.jobid, 'unknown')}"
            for sub in subs if states.get(sub.jobid) != "COMPLETED"]


def check_slurm_jobs(work: Path, log: str, jobcomp: Path, planned: dict[str, int]) -> list[str]:
    """Problems with the evidence that the demo's jobs ran as SLURM jobs (empty = none)."""
    problems = []
    subs = submissions(log)
    if not subs:
        return ["the executor reported no SLURM submission"]
    if len(subs) > MAX_SLURM_JOBS:
        problems.append(f"{len(subs)} SLURM jobs, more than {MAX_SLURM_JOBS}: is the grouping in "
                        f"{PROFILE / 'profile.yaml'} still in step with the rules?")
    records = completion_records(jobcomp) if jobcomp.is_file() else {}
    logdir = work / ".snakemake" / "slurm_logs"
    for sub in subs:
        record = records.get(sub.jobid)
        if record is None:
            problems.append(f"SLURM job {sub.jobid} ({sub.name}) is not in slurmctld's records {jobcomp}")
            continue
        state, exit_code, partition = record.get("JobState"), record.get("ExitCode"), record.get("Partition")
        if (state, exit_code, partition) != ("COMPLETED", "0:0", PARTITION):
            problems.append(f"SLURM job {sub.jobid} ({sub.name}): {state}, exit {exit_code}, partition {partition}")
    ran_rules: set[str] = set()
    for sub in subs:
        logs = list(logdir.glob(f"**/{sub.jobid}.log"))
        if not logs:
            problems.append(f"SLURM job {sub.jobid} ({sub.name}) left no log under {logdir}")
            continue
        # Snakemake inside the SLURM job reports each rule it finished
        ran_rules |= set(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", logs[0].read_text()))
    not_on_slurm = sorted(set(planned) - TARGET_RULES - ran_rules)
    if not_on_slurm:
        problems.append(f"rules that did not run inside a SLURM job: {not_on_slurm}")
    return problems


def tables(work: Path) -> dict[str, Path]:
    """Every table a run wrote under results/ and resources/ (relative path -> file)."""
    return {str(p.relative_to(work)): p for top in ("results", "resources") for p in sorted((work / top).rglob("*"))
            if p.suffix in TABLE_SUFFIXES and p.is_file()}


def compare_runs(local: Path, cluster: Path) -> tuple[int, list[str]]:
    """(tables compared, differences) between the local and the SLURM run's tables."""
    local_tables, cluster_tables = tables(local), tables(cluster)
    problems = [f"only in the local run: {name}" for name in sorted(set(local_tables) - set(cluster_tables))]
    problems += [f"only in the SLURM run: {name}" for name in sorted(set(cluster_tables) - set(local_tables))]
    common = sorted(set(local_tables) & set(cluster_tables))
    for name in common:
        try:
            assert_frame_equal(read_table(local_tables[name]), read_table(cluster_tables[name]), check_exact=False,
                               rtol=1e-9, atol=1e-12)
        except AssertionError as err:
            problems.append(f"{name} differs: {str(err).splitlines()[0:3]}")
    return len(common), problems


def run(tmp: Path) -> list[str]:
    """Start the cluster, run both demos, check; always stop the cluster. Returns the problems found."""
    state = tmp / "cluster"
    started = time.monotonic()
    try:
        env = start_cluster(state)
        print(f"test-slurm: cluster up in {time.monotonic() - started:.1f} s", flush=True)
        problems = run_and_check(tmp, env, state / "jobcomp.log")
    finally:
        stopped = stop_cluster(state)
    if not stopped:
        problems.append(f"the test cluster did not stop cleanly (state in {state})")
    print(f"test-slurm: {time.monotonic() - started:.1f} s in all", flush=True)
    return problems


def run_and_check(tmp: Path, cluster_env: dict[str, str], jobcomp: Path) -> list[str]:
    """The demo locally, then through SLURM; the problems found with the SLURM run (empty = none)."""
    local, cluster = make_demo_dir(tmp / "local"), make_demo_dir(tmp / "slurm")
    t0 = time.monotonic()
    local_run = snakemake(local)
    planned = planned_jobs(local_run)
    print(f"test-slurm: local run ({sum(planned.values())} jobs, --cores 2): {time.monotonic() - t0:.1f} s",
          flush=True)
    if local_run.returncode != 0:
        return [f"the local demo run failed:\n{local_run.stderr[-3000:]}"]

    t0 = time.monotonic()
    slurm_run = run_on_slurm(cluster, cluster_env)
    elapsed = time.monotonic() - t0
    log = slurm_run.stdout + slurm_run.stderr
    (tmp / "slurm-run.log").write_text(log)
    subs = submissions(log)
    print(f"test-slurm: SLURM run: {len(subs)} SLURM jobs for {sum(planned.values())} workflow jobs, "
          f"{elapsed:.1f} s (aim: under {AIM_S} s on an idle machine)", flush=True)
    for sub in subs:
        print(f"  SLURM job {sub.jobid}: {sub.name}")
    if slurm_run.returncode != 0:
        return [f"the SLURM demo run failed (log {tmp / 'slurm-run.log'}):\n{log[-3000:]}"]
    problems = check_slurm_jobs(cluster, log, jobcomp, planned) + check_queue(subs, queue_states(cluster_env))
    if not problems:
        print(f"test-slurm: all {len(subs)} SLURM jobs COMPLETED in squeue and slurmctld's records, with their "
              "logs, and every rule with an action finished inside one", flush=True)
    compared, differences = compare_runs(local, cluster)
    print(f"test-slurm: {compared} tables compared with the local run, {len(differences)} differ", flush=True)
    return problems + differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (runs, logs, cluster state)")
    args = parser.parse_args()
    # a TERM (e.g. a CI timeout) unwinds like Ctrl-C, so the cluster is still stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"test-slurm: stopped by signal {signum}"))
    missing = missing_prerequisites()
    if missing:
        print("test-slurm: cannot run, missing: " + ", ".join(missing)
              + " (apt-get install -y slurm-wlm munge; pip install -e '.[slurm]')", file=sys.stderr)
        return 3
    tmp = Path(tempfile.mkdtemp(prefix="reeflow-slurm-"))
    problems = run(tmp)
    for problem in problems:
        print(f"test-slurm: FAILED: {problem}", file=sys.stderr)
    if problems or args.keep:
        print(f"test-slurm: runs, logs and cluster state kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("test-slurm: 1 passed, 0 failed" if not problems else "test-slurm: 0 passed, 1 failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
