"""End to end: with no Comtrade key and no trade setting, the default config runs the whole study on
BACI, downloaded from a local stand-in for CEPII's site (a SYNTHETIC HS17 release built from the demo
world's links). One snakemake run, plus a dry run that plans the three default releases."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from baci_server import BaciServer, BaciSite, write_release
from workflow_helpers import ROOT, make_demo_dir, planned_jobs, snakemake

pytestmark = pytest.mark.workflow
VERSION = "202601"  # the default baci.version


def demo_world():  # noqa: ANN201 (the .test/make_synthetic module)
    spec = importlib.util.spec_from_file_location("make_synthetic", ROOT / ".test" / "make_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def hs17_release(path: Path) -> Path:
    """The demo world's links as BACI rows (t,i,j,k,v,q: kUSD and tonnes), HS17 codes as they are."""
    world = demo_world()
    rows = {
        year: [
            f"{year},{world.COUNTRIES[e][0]},{world.COUNTRIES[i][0]},{code if len(code) == 6 else code + '90'},"
            f"{qty * world.UNIT_VALUE_USD[code] / 1000:.3f},{qty * world.ITEM_MASS_T.get(code, 1.0):.3f}"
            for e, i, code, qty, _ in world.LINKS
        ]
        for year in world.YEARS
    }
    countries = "country_code,country_name,country_iso2,country_iso3\n" + "".join(
        f"{code},{name},,{iso}\n" for iso, (code, name) in world.COUNTRIES.items()
    )
    return write_release(path, "HS17", VERSION, rows, countries)


def keyless_default_config(work: Path, base_url: str) -> None:
    """The demo config with its trade source removed (so the default applies) and BACI's address local."""
    path = work / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["comtrade"] = {}
    config["baci"] = {"url": base_url + "/BACI_{hs}_V{version}.zip"}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_the_keyless_default_runs_the_whole_study_on_baci(tmp_path: Path) -> None:
    release = hs17_release(tmp_path / "site" / "release.zip").read_bytes()
    site = BaciSite(files={f"/BACI_HS17_V{VERSION}.zip": release})
    work = make_demo_dir(tmp_path)
    with BaciServer(site) as server:
        keyless_default_config(work, server.base_url)
        run = snakemake(work)  # COMTRADE_API_KEY is removed from the environment by the helper
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "trade source BACI: no COMTRADE_API_KEY set (comtrade.source: auto)" in output
    # only the release the study years need was fetched, once, and pinned by its checksum
    assert [r.path for r in site.requests] == [f"/BACI_HS17_V{VERSION}.zip"]
    record = json.loads((work / f"resources/raw/baci/BACI_HS17_V{VERSION}.download.json").read_text())
    provenance = json.loads((work / "resources/raw/baci/provenance/HS17.json").read_text())
    assert record["sha256"] == provenance["sha256"] and provenance["revision"] == "H5"
    assert not (work / "resources/raw/comtrade").exists()  # no Comtrade request at all
    # HS17-only codes (hybrid and battery-electric cars) are read from the HS17 release
    trade = pd.read_parquet(work / "resources/clean/trade/2020.parquet")
    assert set(trade["basis"]) == {"reconciled"}
    assert {"870380", "870340", "850750"} <= set(trade["hs6"]) and "870390" not in set(trade["hs6"])
    flows = pd.read_parquet(work / "results/mfa/flows.parquet")
    assert ((flows["exporter"] == "USA") & (flows["importer"] == "CHN")).any()
    # the provenance table and page say which source and why
    table = pd.read_csv(work / "results/report/provenance.csv")
    first = table.iloc[0]
    assert (first["dataset"], first["kind"]) == ("trade_source", "baci")
    assert first["location"] == "BACI: no COMTRADE_API_KEY set (comtrade.source: auto)"
    assert set(table.loc[table["dataset"] == "baci", "kind"]) == {"baci:HS17"}
    assert "Trade source: CEPII BACI" in (work / "results/report/provenance.html").read_text()
    assert "trade source: BACI: no COMTRADE_API_KEY" in (work / "logs/report/provenance.log").read_text()
    assert (work / "results/figures/fig_sankey.png").is_file()

    # A longer study needs the HS92 and HS12 releases too: planned, and nothing done is redone.
    path = work / "config" / "config.yaml"
    longer = yaml.safe_load(path.read_text())
    longer["years"] = {"start": 2010, "end": 2021}
    path.write_text(yaml.safe_dump(longer, sort_keys=False))
    dry = snakemake(work, "download", "-n")
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-4000:]
    plan = planned_jobs(dry)
    assert plan["download_baci"] == 2 and plan["register_baci_archive"] == 2  # HS92 and HS12
    assert plan["extract_baci"] == 8  # 2010-2017; 2018-2021 stay as they are
    assert "BACI_HS92_V202601.zip" in dry.stdout + dry.stderr and "BACI_HS12_V202601.zip" in dry.stdout + dry.stderr
