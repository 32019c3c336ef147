"""Run the real snakemake CLI on a copy of the synthetic demo world (.test) in a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_demo_dir(tmp: Path) -> Path:
    """A fresh working directory with the demo config and SYNTHETIC data (never the repo's own)."""
    work = tmp / "demo"
    shutil.copytree(ROOT / ".test" / "config", work / "config")
    shutil.copytree(ROOT / ".test" / "data", work / "data")
    return work


def snakemake(work: Path, *args: str, env: dict[str, str] | None = None,
              timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """`snakemake --cores 2` in ``work`` with the repo's Snakefile; commodities given by absolute path."""
    cmd = [  # --config takes several values, so it comes last, after targets and other options
        sys.executable, "-m", "snakemake", *args, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
        "--cores", "2", "--config", f"commodities={ROOT / 'config' / 'commodities.csv'}",
    ]
    full_env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"}  # keyless unless asked
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=full_env)


def planned_jobs(run: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> job count from the job-stats table a dry run prints."""
    counts: dict[str, int] = {}
    in_table = False
    for line in (run.stdout + run.stderr).splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] != "total":
                    counts[parts[0]] = int(parts[1])
            elif parts and not set(parts[0]) <= {"-"}:
                in_table = False
    return counts
