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


def test_whole_workflow_runs_on_a_baci_archive(tmp_path: Path) -> None:
    """comtrade.source: baci, end to end, on a SYNTHETIC release built from the demo world's links."""
    import importlib.util
    import zipfile

    from reeflow.acquire.baci import country_member, year_member

    spec = importlib.util.spec_from_file_location("make_synthetic", ROOT / ".test" / "make_synthetic.py")
    demo_world = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_world)  # type: ignore[union-attr]
    version = "202601"
    archive = tmp_path / f"BACI_HS92_V{version}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for year in demo_world.YEARS:
            rows = [  # BACI has six-digit codes only: the demo's four-digit 2846 becomes 284690
                f"{year},{demo_world.COUNTRIES[e][0]},{demo_world.COUNTRIES[i][0]},{code.ljust(6, '0')[:4]}"
                f"{code[4:] if len(code) == 6 else '90'},"
                f"{qty * demo_world.UNIT_VALUE_USD[code] / 1000:.3f},{qty * demo_world.ITEM_MASS_T.get(code, 1.0):.3f}"
                for e, i, code, qty, _ in demo_world.LINKS
            ]
            zf.writestr(year_member(year, version), "t,i,j,k,v,q\n" + "\n".join(rows) + "\n")
        zf.writestr(country_member(version), "country_code,country_name,country_iso2,country_iso3\n" + "".join(
            f"{code},{name},,{iso}\n" for iso, (code, name) in demo_world.COUNTRIES.items()))
    work = make_demo_dir(tmp_path)
    config = work / "config" / "config.yaml"
    config.write_text(config.read_text().replace("  source: files\n  files: [data/comtrade/synthetic-*.json, "
                                                 "data/comtrade/synthetic-*.csv]\n", "  source: baci\n", 1)
                      + f"baci: {{archive: {archive}, version: '{version}'}}\n")
    assert "source: baci" in config.read_text()
    run = snakemake(work)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    trade = pd.read_parquet(work / "resources/clean/trade/2020.parquet")
    assert set(trade["basis"]) == {"reconciled"} and len(trade) > 10
    flows = pd.read_parquet(work / "results/mfa/flows.parquet")
    assert ((flows["exporter"] == "USA") & (flows["importer"] == "CHN")).any()
    assert (work / "results/figures/fig_sankey.png").is_file()
