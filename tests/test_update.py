"""`make update` (snakemake update) and code-change reruns.

Unit tests of the comparisons (revised reporters, record changes, headline before/after, the code
digest), then the real snakemake CLI on the SYNTHETIC demo world served by the local Comtrade
stand-in: one full run, then an update with nothing revised, an update whose server fails half-way,
and an update with one revised year, each checked on the cache (bytes and mtimes), the calls made
and the plan of the next run. Everything here is SYNTHETIC.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from baci_server import write_release
from comtrade_server import (
    Answer,
    ComtradeServer,
    availability_handler,
    availability_record,
    filtering_handler,
    is_availability,
)
from http_stub import StubServer
from reeflow.acquire.baci import download_archive
from reeflow.acquire.comtrade import availability_datasets, records_as_json
from reeflow.acquire.raw import read_comtrade_file
from reeflow.acquire.update import check_baci, headline_changes, record_changes, revised_reporters
from reeflow.codedigest import code_digest, script_modules
from workflow_helpers import ROOT, make_demo_dir, planned_jobs

YEARS = (2018, 2019)  # two of the demo's four years: half the jobs, the same checks
REPORTERS = {"AUS": 36, "CHN": 156, "DEU": 276, "JPN": 392, "MYS": 458, "USA": 842}


# --------------------------------------------------------------------------------------------
# Unit tests


def test_a_new_checksum_or_release_date_revises_only_that_reporter() -> None:
    before = [availability_record(2019, 156, checksum=1), availability_record(2019, 842, checksum=2)]
    same = revised_reporters(before, before, since=None)
    assert same == {}
    now = [availability_record(2019, 156, checksum=9), availability_record(2019, 842, checksum=2)]
    assert set(revised_reporters(now, before, since=None)) == {156}
    appeared = [*before, availability_record(2019, 36)]
    assert set(revised_reporters(appeared, before, since=None)) == {36}
    assert set(revised_reporters(before[:1], before, since=None)) == {842}  # withdrawn


def test_without_a_recorded_availability_a_release_after_the_download_revises() -> None:
    from datetime import UTC, datetime

    since = datetime(2024, 3, 1, tzinfo=UTC)
    now = [availability_record(2019, 156, released="2024-02-01T00:00:00"),
           availability_record(2019, 842, released="2024-05-01T00:00:00")]  # fmt: skip
    assert set(revised_reporters(now, None, since=since)) == {842}


def test_availability_datasets_keep_the_comparable_fields_of_complete_records() -> None:
    records = [availability_record(2019, 842), {"reporterCode": 156, "period": 2019}, "junk"]
    [kept] = availability_datasets(records)
    assert kept["reporterCode"] == 842 and kept["datasetChecksum"] == 1000 and "datasetCode" not in kept


def _records(rows: list[tuple[int, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"refYear": 2019, "reporterCode": r, "flowCode": "M", "partnerCode": p, "partner2Code": 0, "cmdCode": c,
          "customsCode": "C00", "motCode": 0, "classificationCode": "H5", "netWgt": w, "primaryValue": w * 3}
         for r, p, c, w in rows]  # fmt: skip
    )


def test_record_changes_counts_added_removed_and_changed_per_reporter() -> None:
    before = _records([(156, 842, "2846", 10.0), (156, 36, "2846", 5.0), (842, 156, "2846", 7.0)])
    after = _records([(156, 842, "2846", 11.0), (156, 392, "2846", 1.0), (842, 156, "2846", 7.0)])
    changes = record_changes(before, after, "comtrade", 2019).set_index("reporter")
    assert changes.loc["CHN", ["added", "removed", "changed"]].tolist() == [1, 1, 1]
    assert changes.loc["USA", ["added", "removed", "changed"]].tolist() == [0, 0, 0]
    assert changes.loc["CHN", "records_before"] == 2 and changes.loc["CHN", "records_after"] == 2


def test_headline_changes_marks_what_moved() -> None:
    before = pd.DataFrame({"year": [2019, 2020], "us_net_exports_t": [10.0, 20.0],
                           "us_top_export_destination": ["CHN", "JPN"]})  # fmt: skip
    after = pd.DataFrame({"year": [2019, 2020], "us_net_exports_t": [12.5, 20.0],
                          "us_top_export_destination": ["CHN", "DEU"]})  # fmt: skip
    table = headline_changes(before, after, [2019]).set_index(["year", "indicator"])
    assert table.loc[(2019, "us_net_exports_t"), "changed"]
    assert table.loc[(2019, "us_net_exports_t"), "after"] == 12.5
    assert not table.loc[(2020, "us_net_exports_t"), "changed"]
    assert table.loc[(2020, "us_top_export_destination"), "changed"]
    assert table.loc[(2019, "us_net_exports_t"), "year_refreshed"]
    assert not table.loc[(2020, "us_net_exports_t"), "year_refreshed"]


def test_a_revision_that_leaves_the_records_alone_keeps_the_file_and_is_not_fetched_again(tmp_path: Path) -> None:
    from reeflow.acquire.comtrade import download_comtrade_year
    from reeflow.acquire.update import CHECKED_FILE, comtrade_dataset, update_comtrade
    from reeflow.settings import ComtradeScope

    pool = [r for r in demo_pool() if r["refYear"] == 2019 and r["reporterCode"] in (156, 842)]
    availability = [availability_record(2019, 156), availability_record(2019, 842)]
    with ComtradeServer(availability_handler(availability, filtering_handler(pool))) as server:
        scope = ComtradeScope.from_mapping({
            "source": "api", "base_url": server.base_url, "keyed": False, "reporters": ["USA", "CHN"],
            "flows": ["M", "X"], "cmd_codes": sorted({r["cmdCode"] for r in pool}), "max_records": 500,
            "max_tries": 1, "backoff_seconds": 0.0, "max_backoff_seconds": 0.0, "timeout_seconds": 5,
            "pause_seconds": 0.0, "allow_missing_years": False, "max_answer_mb": 64,
        })  # fmt: skip
        raw = tmp_path / "2019.json"
        download_comtrade_year(raw, 2019, scope, record_availability=True)
        stamp = (raw.read_bytes(), raw.stat().st_mtime_ns)
        availability[0]["datasetChecksum"] += 1  # CHN republished, but nothing in our codes changed
        findings, changes = update_comtrade([comtrade_dataset(tmp_path, scope, None)], [2019])
        assert findings[0]["years_revised"] == [2019] and findings[0]["years_replaced"] == []
        assert changes[["added", "removed", "changed"]].to_numpy().sum() == 0
        assert (raw.read_bytes(), raw.stat().st_mtime_ns) == stamp  # kept as it was
        assert json.loads((tmp_path / CHECKED_FILE).read_text())["2019"]["datasets"][0]["datasetChecksum"] == 1001
        first = len(server.requests)
        findings, _ = update_comtrade([comtrade_dataset(tmp_path, scope, None)], [2019])
        assert findings[0]["years_revised"] == [] and len(server.requests) == first + 1  # availability only


def _copy_scripts(dest: Path) -> Path:
    shutil.copytree(ROOT / "scripts", dest / "scripts", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest / "scripts"


def test_every_baci_release_is_checked_and_local_or_missing_ones_say_so(tmp_path: Path) -> None:
    """No network here: a local archive and a release not yet downloaded need no request."""
    releases = [
        {"hs": "HS92", "version": "202601", "local": True, "record": ""},
        {"hs": "HS17", "version": "202601", "local": False, "record": str(tmp_path / "missing.download.json")},
    ]
    rows = check_baci(releases, timeout=1.0)
    assert [r["item"] for r in rows] == ["release HS92", "release HS17"]
    assert "local archive" in rows[0]["finding"] and rows[1]["finding"] == "not downloaded yet"
    assert check_baci([], timeout=1.0) == []


def test_a_downloaded_baci_release_is_checked_at_the_address_it_came_from(tmp_path: Path) -> None:
    """The record download_archive writes (not a hand-made one) leads the HEAD request to the release."""
    archive = write_release(tmp_path / "r.zip", "HS17", "202601", {2021: ["2021,156,842,284690,1.5,2.0"]})
    answer = Answer(body=archive.read_bytes(), content_type="application/zip",
                    headers={"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})  # before the download: unchanged
    with StubServer(lambda request: answer) as srv:
        record = tmp_path / "BACI_HS17_V202601.download.json"
        download_archive(f"{srv.base_url}/BACI_HS17_V202601.zip", tmp_path / "BACI_HS17_V202601.zip", record,
                         backoff_seconds=0.01)  # fmt: skip
        rows = check_baci([{"hs": "HS17", "version": "202601", "local": False, "record": str(record)}], timeout=5.0)
    assert rows[0]["finding"].startswith("unchanged;"), rows[0]["finding"]
    head = [r for r in srv.requests if r.method == "HEAD"]
    assert [r.path for r in head] == ["/BACI_HS17_V202601.zip"]


def test_code_digest_follows_imports_and_not_the_location(tmp_path: Path) -> None:
    scripts = ROOT / "scripts"
    modules = script_modules(scripts / "mfa" / "mfa_year.py", scripts)
    assert "reeflow.mfa.balance" in modules and "reeflow.mfa.tracing" in modules  # tracing: through balance
    assert "reeflow.clean.declarations" not in modules
    copy = _copy_scripts(tmp_path / "a")
    mfa, clean = Path("mfa/mfa_year.py"), Path("clean/clean_production.py")
    assert code_digest(copy / mfa, copy) == code_digest(scripts / mfa, scripts)  # no absolute path in it
    edited = _copy_scripts(tmp_path / "b")
    with (edited / "reeflow" / "mfa" / "tracing.py").open("a") as handle:
        handle.write("\n# an edit\n")
    assert code_digest(edited / mfa, edited) != code_digest(copy / mfa, copy)  # a transitive import changed
    assert code_digest(edited / clean, edited) == code_digest(copy / clean, copy)  # clean_production does not use it
    script_edit = _copy_scripts(tmp_path / "c")
    with (script_edit / clean).open("a") as handle:
        handle.write("\n# an edit of the rule script itself\n")
    assert code_digest(script_edit / clean, script_edit) != code_digest(copy / clean, copy)  # the profiles drop `code`


def test_every_scripted_rule_carries_its_code_digest() -> None:
    """A rule whose script imports reeflow needs params code=, else an edit of the package leaves it stale;
    the network downloads are exempt on purpose (README: a code change does not refetch)."""
    exempt = {"download_comtrade", "download_tariffline", "retrieve_usgs", "download_baci"}
    missing = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in smk.read_text().split("\nrule ")[1:]:
            name = block.split(":", 1)[0]
            if "    script:" in block and name not in exempt and "code=script_code(" not in block:
                missing.append(f"{smk.name}:{name}")
    assert missing == []


# --------------------------------------------------------------------------------------------
# The workflow against the local Comtrade stand-in

def demo_pool() -> list[dict[str, Any]]:
    """The demo world's SYNTHETIC Comtrade records, as the stand-in serves them."""
    pool = []
    for path in sorted((ROOT / ".test" / "data" / "comtrade").glob("synthetic-*")):
        pool.extend(records_as_json(read_comtrade_file(path)))
    for record in pool:
        record["cmdCode"] = str(record["cmdCode"])
    return pool


class Stand:
    """The stand-in's state: records and availability, changed by the tests to stage revisions."""

    def __init__(self) -> None:
        self.pool = demo_pool()
        self.availability = [availability_record(y, c) for y in YEARS for c in REPORTERS.values()]
        self.fail_periods: set[str] = set()
        self.server = ComtradeServer(availability_handler(self.availability, self._data))
        # the handler holds these lists: tests change them in place

    def _data(self, request: Any) -> Answer:
        if request.query.get("period") in self.fail_periods:
            return Answer(status=503, body="maintenance", content_type="text/plain")
        return filtering_handler(self.pool)(request)

    def revise(self, year: int, reporter: int, factor: float) -> None:
        """Comtrade republishes ``reporter``'s ``year``: one record changes, with a new date and checksum."""
        record = next(r for r in self.pool if r["refYear"] == year and r["reporterCode"] == reporter)
        record["netWgt"] = float(record["netWgt"]) * factor
        record["qty"] = float(record["qty"]) * factor
        for entry in self.availability:
            if entry["period"] == year and entry["reporterCode"] == reporter:
                entry["lastReleased"] = "2026-10-01T00:00:00"
                entry["datasetChecksum"] += 1


def snapshot_tree(dest: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, scripts): runs see one version of the code even if
    the repo changes meanwhile, and a test may edit the copy (never the repo)."""
    for name in ("Snakefile", "workflow", "envs", "profiles"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, dest / name)
    _copy_scripts(dest)
    return dest


def snakemake(work: Path, *args: str, tree: Path) -> subprocess.CompletedProcess[str]:
    """`snakemake --cores 2` in ``work`` with the Snakefile and package of ``tree`` (keyless)."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(tree / "Snakefile"), "--directory",
           str(work), "--cores", "2", "--config", f"commodities={ROOT / 'config' / 'commodities.csv'}"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"}
    env["PYTHONPATH"] = str(tree / "scripts")
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def stand() -> Iterator[Stand]:
    state = Stand()
    with state.server:
        yield state


@pytest.fixture(scope="module")
def api_demo(stand: Stand, tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo world downloaded from the stand-in (keyless, the six demo reporters), fully run."""
    work = make_demo_dir(tmp_path_factory.mktemp("update"))
    config_path = work / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["comtrade"] = {
        "source": "api", "base_url": stand.server.base_url, "keyless_reporters": sorted(REPORTERS),
        "max_tries": 2, "backoff_seconds": 0.01, "max_backoff_seconds": 0.02, "timeout_seconds": 10,
        "pause_seconds": 0.0, "tariffline": {"enabled": False},
    }  # fmt: skip
    config["years"] = {"start": YEARS[0], "end": YEARS[-1]}
    config["sensitivity"].update({"draws": 50, "years": list(YEARS)})
    config["figures"].update({"sankey_years": [YEARS[-1]], "network_years": [YEARS[-1]]})
    config_path.write_text(yaml.safe_dump(config))
    run = snakemake(work, tree=tree)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    return work


def raw_state(work: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of every cached raw Comtrade year."""
    years = sorted((work / "resources/raw/comtrade").glob("*.json"))
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in years if p.stem.isdigit()}


def update(work: Path, stand: Stand, tree: Path) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    first = len(stand.server.requests)
    run = snakemake(work, "update", tree=tree)
    return run, stand.server.requests[first:]


@pytest.mark.workflow
def test_downloads_record_the_availability_of_each_year(api_demo: Path) -> None:
    raw = json.loads((api_demo / "resources/raw/comtrade/2019.json").read_text())
    datasets = raw["availability"]["datasets"]
    assert {d["reporterCode"] for d in datasets} == set(REPORTERS.values())
    assert all(d["period"] == 2019 and d["datasetChecksum"] == 1000 for d in datasets)


@pytest.mark.workflow
def test_an_update_with_nothing_revised_asks_once_and_touches_nothing(api_demo: Path, stand: Stand, tree: Path) -> None:
    before = raw_state(api_demo)
    run, calls = update(api_demo, stand, tree)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert len(calls) == 1 and is_availability(calls[0])  # one data-availability call, no download
    assert calls[0].query["period"] == ",".join(str(y) for y in YEARS)
    assert raw_state(api_demo) == before  # same bytes, same mtimes
    assert json.loads((api_demo / "results/updates/last_check.json").read_text())["years_replaced"] == []
    assert not (api_demo / "results/updates/refresh").exists()
    assert "nothing changed" in run.stdout
    assert planned_jobs(snakemake(api_demo, "-n", tree=tree)) == {}


@pytest.mark.workflow
def test_a_server_failing_mid_update_leaves_the_cache_as_it_was(api_demo: Path, stand: Stand, tree: Path) -> None:
    pool, availability = copy.deepcopy(stand.pool), copy.deepcopy(stand.availability)
    stand.revise(2018, REPORTERS["CHN"], 1.5)
    stand.revise(2019, REPORTERS["CHN"], 1.5)
    stand.fail_periods = {"2019"}  # 2018 arrives, then 2019 fails
    before = raw_state(api_demo)
    try:
        run, calls = update(api_demo, stand, tree)
    finally:  # the stand-in as it was, so the next test revises one year only
        stand.fail_periods = set()
        stand.pool[:], stand.availability[:] = pool, availability
    assert run.returncode != 0
    assert any(c.query.get("period") == "2018" and not is_availability(c) for c in calls)  # 2018 had arrived
    assert raw_state(api_demo) == before
    assert not (api_demo / "resources/raw/comtrade/.update").exists()
    assert not any(p.name.endswith(".part") for p in (api_demo / "resources/raw/comtrade").iterdir())


@pytest.mark.workflow
def test_a_revised_year_is_refetched_alone_and_only_its_jobs_rerun(api_demo: Path, stand: Stand, tree: Path) -> None:
    stand.revise(2019, REPORTERS["CHN"], 2.0)
    before = raw_state(api_demo)
    run, calls = update(api_demo, stand, tree)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    data = [c for c in calls if not is_availability(c)]
    assert data and {c.query["period"] for c in data} == {"2019"}  # only the revised year is downloaded
    after = raw_state(api_demo)
    assert after["2019.json"] != before["2019.json"]
    assert {k: v for k, v in after.items() if k != "2019.json"} == {k: v for k, v in before.items()
                                                                      if k != "2019.json"}  # fmt: skip
    records = pd.read_csv(api_demo / "results/updates/refresh/records.csv").set_index("reporter")
    assert records.loc["CHN", ["added", "removed", "changed"]].tolist() == [0, 0, 1]
    assert records.drop(index="CHN")[["added", "removed", "changed"]].to_numpy().sum() == 0

    jobs = planned_jobs(snakemake(api_demo, "-n", tree=tree))
    assert jobs.get("clean_trade") == 1 and jobs.get("mfa_year") == 1 and jobs.get("sensitivity_year") == 1, jobs
    assert jobs.get("update_summary") == 1 and jobs.get("collect_mfa") == 1, jobs
    assert not {"download_comtrade", "clean_production", "retrieve_usgs", "update"} & set(jobs), jobs

    # the rerun up to what results/updates/ says (the figures and the Monte Carlo would only cost time)
    rerun = snakemake(api_demo, "results/updates/records_changed.csv", "results/updates/headline_changes.csv",
                      tree=tree)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    summary = pd.read_csv(api_demo / "results/updates/records_changed.csv")
    assert summary.loc[summary["reporter"] == "CHN", "changed"].tolist() == [1]
    headline = pd.read_csv(api_demo / "results/updates/headline_changes.csv")
    assert set(headline.loc[headline["year_refreshed"], "year"]) == {2019}
    assert headline["changed"].any()  # doubling a Chinese declaration moves a headline number
    assert not headline.loc[headline["year"] != 2019, "changed"].any()


@pytest.mark.workflow
def test_editing_a_module_replans_its_rules_and_their_dependents_only(api_demo: Path, tree: Path,
                                                                       tmp_path: Path) -> None:
    """An edit of reeflow/mfa/balance.py in a COPY of the tree (the repo is never edited)."""
    edited = Path(shutil.copytree(tree, tmp_path / "tree"))  # the same code as the run, plus one edit
    with (edited / "scripts" / "reeflow" / "mfa" / "balance.py").open("a") as handle:
        handle.write("\n# an edit that changes nothing but the code\n")
    run = snakemake(api_demo, "-n", tree=edited)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    base = planned_jobs(snakemake(api_demo, "-n", tree=tree))  # the unedited copy (what an earlier test left)
    jobs = {rule: n - base.get(rule, 0) for rule, n in planned_jobs(run).items() if n > base.get(rule, 0)}
    assert jobs.get("mfa_year") == len(YEARS) and (jobs.get("collect_mfa") or base.get("collect_mfa")), jobs
    users = {  # the rules whose scripts import balance (directly or not)
        rule for rule, script in (("mfa_year", "mfa/mfa_year.py"), ("clean_trade", "clean/clean_trade.py"),
                                  ("clean_production", "clean/clean_production.py"))
        if "reeflow.mfa.balance" in script_modules(edited / "scripts" / script, edited / "scripts")
    }  # fmt: skip
    assert users == {"mfa_year"}
    assert not {"download_comtrade", "clean_trade", "clean_production", "collect_trade_quality"} & set(jobs), jobs
