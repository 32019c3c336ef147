"""End to end: the real snakemake CLI on the SYNTHETIC demo world (.test), then partial reruns.

One module-scoped run feeds several checks, so the suite pays for the full workflow once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import ROOT, make_demo_dir, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = make_demo_dir(tmp_path_factory.mktemp("wf"))
    run = snakemake(work)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    return work


def test_demo_run_writes_every_public_output(demo: Path) -> None:
    for name in (
        "results/mfa/balance.parquet",
        "results/mfa/flows.parquet",
        "results/mfa/origins.parquet",
        "results/mfa/stocks.parquet",
        "results/tables/indicators.csv",
        "results/tables/headline.csv",
        "results/quality/coverage.csv",
        "results/quality/mirror_discrepancies.csv",
        "resources/clean/production.parquet",
    ):
        assert (demo / name).is_file(), name
    headline = pd.read_csv(demo / "results/tables/headline.csv")
    assert list(headline["year"]) == [2018, 2019, 2020, 2021]


def test_every_job_logged_and_every_raw_file_has_provenance(demo: Path) -> None:
    for year in range(2018, 2022):
        raw = json.loads((demo / f"resources/raw/comtrade/{year}.json").read_text())
        assert raw["responses"], year
        for response in raw["responses"]:
            assert len(response["sha256"]) == 64 and response["retrieved_at"].endswith("Z")
    provenance = list((demo / "resources/raw/usgs/provenance").rglob("*.json"))
    assert len(provenance) == 2
    assert list((demo / "logs").rglob("*.log"))


def test_nothing_to_do_after_a_complete_run(demo: Path) -> None:
    run = snakemake(demo, "-n")
    assert run.returncode == 0
    assert planned_jobs(run) == {}, run.stdout[-3000:]


def test_changing_one_year_reruns_only_that_year(demo: Path, tmp_path: Path) -> None:
    work = tmp_path / "copy"
    shutil.copytree(demo, work, symlinks=True)
    shutil.rmtree(work / ".snakemake", ignore_errors=True)
    shutil.copytree(demo / ".snakemake", work / ".snakemake")
    raw = work / "resources/raw/comtrade/2019.json"
    content = json.loads(raw.read_text())
    content["responses"][0]["records"][0]["netWgt"] = float(content["responses"][0]["records"][0]["netWgt"]) * 2
    raw.write_text(json.dumps(content))
    run = snakemake(work, "-n")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run)
    assert jobs.get("clean_trade") == 1 and jobs.get("mfa_year") == 1, jobs
    assert "download_comtrade" not in jobs and "clean_production" not in jobs, jobs


def test_lint_is_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]


def test_report_contains_every_figure_and_opens_in_a_browser(demo: Path, tmp_path: Path) -> None:
    import zipfile

    from matplotlib import image
    from test_report import chromium_screenshot_or_skip

    run = snakemake(demo, "--report", "results/report.html")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    report = demo / "results" / "report.html"
    html = report.read_text(errors="replace")
    figures = sorted(p.stem for p in (demo / "results" / "figures").glob("*.png"))
    assert len(figures) >= 8
    for name in figures:
        assert name in html, f"{name} missing from the report"
    assert "headline" in html and "provenance" in html
    shot = chromium_screenshot_or_skip(report, tmp_path / "report.png", virtual_time_ms=10000)
    pixels = image.imread(shot)
    assert pixels.shape[0] > 500 and pixels.reshape(-1, pixels.shape[-1]).std(axis=0).max() > 0.01
    assert not zipfile.is_zipfile(report)


def test_cluster_profile_runs_every_job_as_its_own_process(tmp_path: Path) -> None:
    """The cluster-generic executor submits each job as a detached local process: a job that relied
    on undeclared files or shared state would fail here."""
    work = make_demo_dir(tmp_path)
    submit = ROOT / "profiles" / "local-cluster" / "submit.sh"
    run = snakemake(
        work, "--workflow-profile", str(ROOT / "profiles" / "local-cluster"),
        "--cluster-generic-submit-cmd", f"bash {submit}", "--jobs", "2",
        "results/mfa/balance.parquet", "results/quality/coverage.csv",
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (work / "results/mfa/balance.parquet").is_file()
    submitted = list((work / "logs" / "cluster").glob("*.out"))
    assert len(submitted) >= 10, "every job should have gone through the submit script"
