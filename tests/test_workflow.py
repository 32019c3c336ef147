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


def test_demo_run_writes_the_shock_tables_and_figures(demo: Path) -> None:
    """Issue 17: shocks.csv (every order, usa_chn_cut always run) and stabilisation.csv per year."""
    shocks = pd.read_csv(demo / "results/tables/shocks.csv")
    assert set(shocks["order"]) == {"first_order", "propagated", "rerouted"}
    assert {"usa_chn_cut", "expected_link_failure"} <= set(shocks["scenario"])
    assert (shocks["shortfall_share"].dropna().between(0, 1 + 1e-9)).all()
    stab = pd.read_csv(demo / "results/tables/stabilisation.csv")
    world = stab[(stab["country"] == "WLD") & (stab["rerouting"] == "configured")]
    assert sorted(world["year"].unique()) == [2018, 2019, 2020, 2021]
    assert (world["stabilisation"] - (world["counterfactual_shortfall_share"] - world["actual_shortfall_share"])
            ).abs().max() < 1e-12  # fmt: skip
    for name in ("fig_shocks", "fig_shock_network"):
        assert (demo / f"results/figures/{name}.png").stat().st_size > 10_000, name


def test_shock_settings_rerun_the_shocks_and_not_the_mfa(demo: Path, tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("shocks: {spare_fraction: {metal: 0.5}}\n")
    jobs = planned_jobs(snakemake(demo, "-n", "--configfile", str(demo / "config" / "config.yaml"), str(override)))
    assert jobs.get("shocks_year") == 4 and "collect_shocks" in jobs and "mfa_year" not in jobs, jobs
    override.write_text("shocks: {figure_year: 2019}\n")
    jobs = planned_jobs(snakemake(demo, "-n", "--configfile", str(demo / "config" / "config.yaml"), str(override)))
    assert set(jobs) <= {"fig_shock_network", "report_provenance", "all"}, jobs


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
    assert jobs.get("clean_trade") == 1 and jobs.get("mfa_year") == 1 and jobs.get("shocks_year") == 1, jobs
    assert "download_comtrade" not in jobs and "clean_production" not in jobs, jobs


def test_changing_a_parameter_reruns_only_the_rules_that_use_it(demo: Path, tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("mfa: {yields: {metal: 0.7}}\n")
    run = snakemake(demo, "-n", "--configfile", str(demo / "config" / "config.yaml"), str(override))
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run)
    assert jobs.get("mfa_year") == 4 and "stocks" in jobs, jobs
    assert not {"download_comtrade", "clean_trade", "clean_production", "collect_trade_quality"} & set(jobs), jobs
    override.write_text("figures: {sankey_years: [2019]}\n")
    figures = snakemake(demo, "-n", "--configfile", str(demo / "config" / "config.yaml"), str(override))
    assert set(planned_jobs(figures)) <= {"fig_sankey", "report_provenance", "all"}, planned_jobs(figures)


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


# The whole workflow on BACI (the keyless default, downloaded from a local server): tests/test_baci_workflow.py
