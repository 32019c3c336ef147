"""Which source and which BACI release: the source by what the user has, each year from the release of
the HS vintage that fits it, codes mapped by that vintage, uncovered years clear, and BACI against
Comtrade in t REO-eq. Archives are SYNTHETIC, written by code (tests/baci_server.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baci_server import write_release
from reeflow.acquire.baci import (
    Release,
    clean_baci_year,
    extract_year,
    plan_releases,
    read_extract_provenance,
    register_archive,
    release_first_year,
    releases_from_config,
)
from reeflow.acquire.source import api_key_for, keyed_requests, resolve_trade_source
from reeflow.clean.source_comparison import compare_countries, compare_flows
from reeflow.commodities import cleaning_records, load_commodities
from reeflow.io import ReeflowError
from reeflow.report.publish import collect_provenance
from reeflow.settings import ClientSettings

ROOT = Path(__file__).resolve().parents[1]
VERSION = "202601"
DEFAULT_RELEASES = [
    {"hs": "HS92", "first_year": 1995, "last_year": 2011},
    {"hs": "HS12", "first_year": 2012, "last_year": 2016},
    {"hs": "HS17", "first_year": 2017},
]


# ---------------------------------------------------------------- the source, by what the user has


@pytest.mark.parametrize(
    ("configured", "key", "source", "reason"),
    [
        ("auto", False, "baci", "BACI: no COMTRADE_API_KEY set (comtrade.source: auto)"),
        ("auto", True, "api", "Comtrade API: COMTRADE_API_KEY set (comtrade.source: auto)"),
        ("api", True, "api", "Comtrade API: comtrade.source: api, COMTRADE_API_KEY set"),
        ("api", False, "preview", "Comtrade keyless preview (a few reporters only): comtrade.source: api, "
                                  "no COMTRADE_API_KEY set"),
        ("preview", True, "preview", "Comtrade keyless preview (a few reporters only): comtrade.source: preview"),
        ("files", True, "files", "local Comtrade files: comtrade.source: files"),
        ("baci", True, "baci", "BACI: comtrade.source: baci"),
    ],
)  # fmt: skip
def test_the_source_follows_the_key(configured: str, key: bool, source: str, reason: str) -> None:
    chosen = resolve_trade_source(configured, key)
    assert (chosen.source, chosen.reason, chosen.key_present) == (source, reason, key)
    assert set(chosen.as_params()) == {"configured", "source", "key_present", "reason"}


@pytest.mark.parametrize("configured", ["auto", "api", "preview", "files", "baci"])
def test_tariff_lines_are_asked_with_the_key_whenever_one_is_set_except_under_the_preview(configured: str) -> None:
    for key in (True, False):
        source = resolve_trade_source(configured, key)
        assert keyed_requests(source.source, source.key_present) is (key and configured != "preview")


def test_the_key_goes_only_to_a_keyed_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyless plan (comtrade.source: preview) must not get the key a user has set: its downloads
    and `make update` would refuse a key the plan was not made for."""
    monkeypatch.setenv("COMTRADE_API_KEY", " secret-key ")
    client = ClientSettings("https://comtrade.test", True, 100000, 3, 1.0, 30.0, 60.0, 0.0, 500.0)
    assert api_key_for(client) == "secret-key"
    assert api_key_for(dataclasses.replace(client, keyed=False)) is None
    assert api_key_for(None) is None
    monkeypatch.setenv("COMTRADE_API_KEY", "  ")
    assert api_key_for(client) is None


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ReeflowError, match="comtrade.source: 'ftp'"):
        resolve_trade_source("ftp", False)


# ---------------------------------------------------------------- releases by HS vintage


def test_the_default_releases_cover_the_default_years_by_vintage() -> None:
    plan = plan_releases(releases_from_config(DEFAULT_RELEASES, VERSION), range(2000, 2025))
    hs = {year: release.hs for year, release in plan.items() if release}
    assert hs == {**dict.fromkeys(range(2000, 2012), "HS92"), **dict.fromkeys(range(2012, 2017), "HS12"),
                  **dict.fromkeys(range(2017, 2025), "HS17")}  # fmt: skip
    assert plan[2017].archive_path() == "resources/raw/baci/BACI_HS17_V202601.zip"
    assert plan[2017].download_record() == "resources/raw/baci/BACI_HS17_V202601.download.json"
    assert (release_first_year("HS92"), release_first_year("HS12"), release_first_year("HS17")) == (1995, 2012, 2017)


def test_a_release_own_version_and_local_archive() -> None:
    releases = releases_from_config([{"hs": "HS17", "first_year": 2017, "version": "202501",
                                      "archive": "/data/BACI_HS17.zip", "sha256": "ab" * 32}], VERSION)  # fmt: skip
    assert releases == [Release("HS17", "202501", 2017, None, "/data/BACI_HS17.zip", "ab" * 32)]
    assert releases[0].archive_path() == "/data/BACI_HS17.zip" and releases[0].download_record() is None


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"hs": "HS12", "first_year": 2010}], r"HS12 release starts in 2012, not 2010"),
        ([{"hs": "HS17", "first_year": 2017}, {"hs": "HS17", "first_year": 2020}], "HS17 is listed twice"),
        ([{"hs": "HS99", "first_year": 2017}], "not a BACI vintage"),
        ([{"hs": "HS92", "first_year": 2005, "last_year": 2001}], "last_year 2001 is before first_year 2005"),
    ],
)
def test_bad_releases_are_refused_with_the_fix(items: list[dict], message: str) -> None:
    with pytest.raises(ReeflowError, match=message):
        releases_from_config(items, VERSION)


def test_uncovered_and_doubly_covered_years() -> None:
    releases = releases_from_config([{"hs": "HS12", "first_year": 2012, "last_year": 2016},
                                     {"hs": "HS17", "first_year": 2017, "last_year": 2020}], VERSION)  # fmt: skip
    with pytest.raises(ReeflowError, match=r"year\(s\) \[2010, 2011, 2021\] without a release.*uncovered_years: gap"):
        plan_releases(releases, range(2010, 2022))
    plan = plan_releases(releases, range(2010, 2022), "gap")
    assert [y for y, r in plan.items() if r is None] == [2010, 2011, 2021]
    overlapping = releases_from_config([{"hs": "HS92", "first_year": 2000}, {"hs": "HS17", "first_year": 2017}], "1")
    with pytest.raises(ReeflowError, match=r"2017 is in the ranges of HS92 \(2000-\), HS17 \(2017-\)"):
        plan_releases(overlapping, [2017])


# ---------------------------------------------------------------- codes mapped by the release's vintage

ROWS = [  # SYNTHETIC, the same flows in every vintage's release
    "2021,842,156,870380,380.0,18.0",  # battery-electric cars (HS2017 code), 10 cars of 1.8 t
    "2021,392,842,870390,500.0,30.0",  # other cars: held hybrid/electric cars before HS2017
    "2021,392,276,850750,12.0,1.0",  # NiMH accumulators (HS2012 code)
    "2021,392,276,850780,24.0,2.0",  # other accumulators: held NiMH before HS2012
    "2021,156,392,284690,90.0,10.0",  # rare-earth compounds: in every vintage
]


def extract_release(tmp_path: Path, hs: str, rows: list[str] = ROWS, year: int = 2021) -> Path:
    archive = write_release(tmp_path / f"BACI_{hs}_V{VERSION}.zip", hs, VERSION, {year: rows})
    prov = tmp_path / f"{hs}.json"
    register_archive(archive, prov, hs=hs)
    out = tmp_path / f"{hs}-{year}.parquet"
    extract_year(archive, year, COMMODITY_CODES, out, prov)
    return out


COMMODITIES = load_commodities(ROOT / "config" / "commodities.csv")
COMMODITY_CODES = list(COMMODITIES["hs_code"])
RECORDS = cleaning_records(COMMODITIES)


@pytest.mark.parametrize(
    ("hs", "kept", "left_out"),
    [
        ("HS17", {"870380", "850750", "284690"}, {"870390", "850780"}),
        ("HS12", {"870390", "850750", "284690"}, {"870380", "850780"}),
        ("HS92", {"870390", "850780", "284690"}, {"870380", "850750"}),
    ],
)
def test_each_release_maps_the_codes_of_its_own_vintage(tmp_path: Path, hs: str, kept: set, left_out: set) -> None:
    path = extract_release(tmp_path, hs)
    prov = read_extract_provenance(path)
    assert (prov["hs"], prov["year"], prov["member"]) == (hs, 2021, f"BACI_{hs}_Y2021_V{VERSION}.csv")
    trade = clean_baci_year(path, RECORDS, True)
    assert set(trade["hs6"]) == kept and not set(trade["hs6"]) & left_out
    assert trade.loc[trade["hs6"] == "284690", "value_usd"].item() == pytest.approx(90_000.0)  # kUSD -> USD


def test_a_release_of_another_vintage_than_configured_is_refused(tmp_path: Path) -> None:
    archive = write_release(tmp_path / "r.zip", "HS12", VERSION, {2021: ROWS})
    with pytest.raises(ReeflowError, match=r"r\.zip: no BACI_HS17_Y\*_V202601\.csv member \(vintages found: \['HS12'"):
        register_archive(archive, tmp_path / "p.json", hs="HS17")
    assert not (tmp_path / "p.json").exists()


def test_a_year_the_release_lacks_is_an_error_or_a_flagged_gap(tmp_path: Path) -> None:
    archive = write_release(tmp_path / "r.zip", "HS17", VERSION, {2021: ROWS, 2022: ROWS})
    prov = tmp_path / "p.json"
    register_archive(archive, prov, hs="HS17")
    out = tmp_path / "2023.parquet"
    with pytest.raises(ReeflowError, match=r"BACI 2023: the HS17 release V202601 .* holds years 2021-2022, not 2023; "
                                           r"set a newer baci\.version.*uncovered_years: gap"):  # fmt: skip
        extract_year(archive, 2023, COMMODITY_CODES, out, prov)
    assert not out.exists()
    extract_year(archive, 2023, COMMODITY_CODES, out, prov, gap_if_missing=True)
    assert read_extract_provenance(out)["gap"] is True
    assert clean_baci_year(out, RECORDS, True).empty
    row = collect_provenance([out], []).iloc[0]
    assert (row["dataset"], row["year"], row["kind"]) == ("baci", 2023, "baci:gap")
    assert "holds years 2021-2022" in row["location"]


def test_the_provenance_table_says_which_source_and_why(tmp_path: Path) -> None:
    source = resolve_trade_source("auto", False).as_params()
    table = collect_provenance([extract_release(tmp_path, "HS17")], [], source)
    assert list(table["dataset"]) == ["trade_source", "baci"]
    assert table.iloc[0]["location"] == "BACI: no COMTRADE_API_KEY set (comtrade.source: auto)"
    assert table.iloc[1]["kind"] == "baci:HS17" and table.iloc[1]["edition"] == VERSION


# ---------------------------------------------------------------- BACI against Comtrade, in t REO-eq


def test_flows_and_countries_side_by_side_in_reo_eq(tmp_path: Path) -> None:
    baci_path = extract_release(tmp_path, "HS17")
    comtrade = clean_baci_year(baci_path, RECORDS, True).assign(basis="importer")
    comtrade.loc[comtrade["hs6"] == "284690", "qty_t"] = 5.0  # Comtrade says half BACI's 10 t
    comtrade = comtrade[comtrade["hs6"] != "870380"]  # a flow only BACI knows
    extra = comtrade.iloc[[0]].assign(exporter="FRA", importer="ITA", hs6="284690", qty_t=4.0)
    trade_path = tmp_path / "trade.parquet"
    pd.concat([comtrade, extra]).to_parquet(trade_path)

    flows = compare_flows([baci_path], [trade_path], COMMODITIES, True)
    row = COMMODITIES.set_index("hs_code").loc["284690"]
    compounds = flows[(flows["hs6"] == "284690") & (flows["exporter"] == "CHN")].iloc[0]
    per_t = row["content_central"] * row["share_central"]
    assert compounds["reo_t_baci"] == pytest.approx(10.0 * per_t)
    assert compounds["reo_t_comtrade"] == pytest.approx(5.0 * per_t)
    assert compounds["ratio"] == pytest.approx(2.0) and compounds["reo_ratio"] == pytest.approx(2.0)
    cars = flows[flows["hs6"] == "870380"].iloc[0]  # items: 18 t / 1.8 t per car x content per car
    car = COMMODITIES.set_index("hs_code").loc["870380"]
    per_car = car["content_central"] * car["share_central"]
    assert cars["reo_t_baci"] == pytest.approx(18.0 / car["item_mass_t"] * per_car)
    assert np.isnan(cars["reo_t_comtrade"]) and np.isnan(cars["reo_ratio"]) and cars["stage"] == "final"
    only_comtrade = flows[flows["exporter"] == "FRA"].iloc[0]
    assert np.isnan(only_comtrade["reo_t_baci"]) and only_comtrade["reo_t_comtrade"] > 0

    countries = compare_countries(flows)
    usa_exports = countries[(countries["country"] == "USA") & (countries["direction"] == "exports")].iloc[0]
    assert usa_exports["reo_t_baci"] == pytest.approx(cars["reo_t_baci"])  # USA exports only the cars
    assert np.isnan(usa_exports["reo_t_comtrade"])  # not measured by Comtrade here, not zero
    for source in ("baci", "comtrade"):
        by_direction = countries.groupby("direction")[f"reo_t_{source}"].sum()
        assert by_direction["exports"] == pytest.approx(by_direction["imports"])  # every flow counted twice


def test_the_comparison_figure_is_drawn(tmp_path: Path) -> None:
    from reeflow.report.source_plot import render_source_comparison

    countries = pd.DataFrame({
        "year": [2021, 2021, 2022, 2022], "country": ["USA", "CHN", "USA", "JPN"],
        "direction": ["exports", "imports", "exports", "imports"],
        "reo_t_baci": [10.0, 8.0, np.nan, 3.0], "reo_t_comtrade": [12.0, np.nan, 5.0, 3.0], "ratio": np.nan,
    })  # fmt: skip
    path = tmp_path / "countries.csv"
    countries.to_csv(path, index=False)
    render_source_comparison(path, tmp_path / "f.png", tmp_path / "f.svg", "Source: SYNTHETIC")
    assert (tmp_path / "f.png").stat().st_size > 10_000 and (tmp_path / "f.svg").is_file()
