"""The production table: edition priority, revisions, ROW, gaps and their fills, world check, validation.

Records are SYNTHETIC (built here) except in the last tests, which combine every real USGS file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import REAL
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.acquire.usgs import RECORD_COLUMNS
from reeflow.clean.production import (
    PRODUCTION_COLUMNS,
    STAGE_STATISTIC_COLUMNS,
    build_production,
    choose_editions,
    edition_rank,
    load_stage_statistics,
    production_schema,
    run_clean_production,
    validate,
)
from reeflow.io import ReeflowError
from reeflow.settings import ProductionSettings

YEARS = list(range(2010, 2016))


def rec(year: int, country: str, value: float, edition: str, estimated: bool = False, code: str = "") -> dict:
    return {"table": "production", "year": year, "country": country, "country_name": country,
            "commodity": "Rare Earths", "statistic": "mine_production", "value": value, "code": code,
            "unit": "t REO", "estimated": estimated, "edition": edition,
            "source": f"synthetic-{edition}.csv"}  # fmt: skip


def salient(year: int, statistic: str, value: float, edition: str = "MCS2015", code: str = "") -> dict:
    return {**rec(year, "USA", value, edition, code=code), "table": "salient", "statistic": statistic, "unit": "t"}


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return out.astype({"year": "int64", "value": "float64", "estimated": bool})


def row(table: pd.DataFrame, year: int, country: str, stage: str = "mining") -> pd.Series:
    hit = table[(table["year"] == year) & (table["country"] == country)]
    if "stage" in table.columns:
        hit = hit[hit["stage"] == stage]
    assert len(hit) == 1, f"{year} {country} {stage}: {len(hit)} rows"
    return hit.iloc[0]


def full_years(country: str, values: dict[int, float], edition: str = "MCS2016") -> list[dict]:
    return [rec(y, country, v, edition) for y, v in values.items()]


# ---------------------------------------------------------------------------------------------
# Editions
# ---------------------------------------------------------------------------------------------


def test_edition_ranking_rule() -> None:
    ordered = ["MCS2026", "MCS2024", "MYB2022", "MCS2023", "MCS2022", "DS140-2020", "MCS2021", "world-1998-2015"]
    ranks = [edition_rank(e) for e in ordered]
    assert ranks == sorted(ranks, reverse=True)
    assert edition_rank("SYNTHETIC-TABLE") == -math.inf < edition_rank("table-1990")


@pytest.mark.parametrize(("priority", "winner", "loser"), [("latest", "MCS2024", "MCS2023"),
                                                           ("earliest", "MCS2023", "MCS2024")])  # fmt: skip
def test_edition_priority_and_revisions(priority: str, winner: str, loser: str) -> None:
    values = {"MCS2023": 168000.0, "MCS2024": 170000.0}
    records = frame([rec(2021, "CHN", values["MCS2024"], "MCS2024"), rec(2021, "CHN", values["MCS2023"], "MCS2023"),
                     rec(2021, "USA", 42000.0, "MCS2023")])  # fmt: skip
    chosen, revisions = choose_editions(records, priority)
    china = row(chosen, 2021, "CHN")
    assert china["edition"] == winner and china["value"] == values[winner]
    assert row(chosen, 2021, "USA")["edition"] == "MCS2023"
    assert len(revisions) == 1
    revision = revisions.iloc[0]
    assert (revision["edition"], revision["value_t_reo"]) == (loser, values[loser])
    assert (revision["chosen_edition"], revision["chosen_value"]) == (winner, values[winner])


def test_a_code_never_overrides_a_value() -> None:
    records = frame([rec(2012, "USA", math.nan, "MCS2014", code="W"), rec(2012, "USA", 3000.0, "MYB2012")])
    chosen, revisions = choose_editions(records)
    assert row(chosen, 2012, "USA")["value"] == 3000.0
    assert revisions.iloc[0]["edition"] == "MCS2014" and math.isnan(revisions.iloc[0]["value_t_reo"])


def test_rest_of_world_only_from_the_lead_edition() -> None:
    """MCS2023's "Other countries" 80 t is MCS2024's Malaysia: it must not be added again."""
    records = frame([
        rec(2022, "CHN", 210000, "MCS2024"), rec(2022, "MYS", 80, "MCS2024"), rec(2022, "USA", 42000, "MCS2024"),
        rec(2022, "CHN", 210000, "MCS2023"), rec(2022, "ROW", 80, "MCS2023"), rec(2022, "USA", 43000, "MCS2023"),
        rec(2021, "CHN", 168000, "MCS2023"), rec(2021, "ROW", 60, "MCS2023"),
    ])  # fmt: skip
    chosen, revisions = choose_editions(records)
    assert not ((chosen["year"] == 2022) & (chosen["country"] == "ROW")).any()
    assert row(chosen, 2021, "ROW")["value"] == 60
    assert ((revisions["country"] == "ROW") & (revisions["edition"] == "MCS2023")).sum() == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([2020, 2021]), st.sampled_from(["CHN", "USA", "AUS"]),
                          st.sampled_from(["MCS2022", "MCS2023", "MYB2021", "DS140-2020"]),
                          st.floats(0, 1e6, allow_nan=False)), min_size=1, max_size=25,
                unique_by=lambda t: (t[0], t[1], t[2])))  # fmt: skip
def test_choice_keeps_every_value_and_picks_the_top_rank(candidates: list[tuple]) -> None:
    records = frame([rec(y, c, v, e) for y, c, e, v in candidates])
    chosen, revisions = choose_editions(records, "latest")
    assert len(chosen) + len(revisions) == len(records)
    assert not chosen.duplicated(["year", "country"]).any()
    for (year, country), group in records.groupby(["year", "country"]):
        best = max(group["edition"], key=edition_rank)
        assert row(chosen, year, country)["edition"] == best


# ---------------------------------------------------------------------------------------------
# Gaps, fills, world check (synthetic: China and Australia with 2012-2013 missing)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def gappy() -> pd.DataFrame:
    rows = full_years("CHN", {2010: 100.0, 2011: 110.0, 2014: 140.0, 2015: 150.0})
    rows += full_years("AUS", {2010: 10.0, 2011: 10.0, 2014: 40.0})  # 2015 missing: no right neighbour
    rows += [rec(2012, "USA", 5.0, "MCS2016"), rec(2013, "USA", math.nan, "MCS2016", code="W")]
    rows += full_years("WLD", {2010: 110.0, 2011: 121.0, 2012: 130.0, 2013: 145.0, 2014: 180.0, 2015: 150.5})
    return frame(rows)


def test_gaps_are_listed_with_reasons(gappy: pd.DataFrame) -> None:
    gaps = build_production(gappy, YEARS, gap_fill="none")["gaps"]
    assert set(zip(gaps["year"], gaps["country"])) == {
        (2012, "CHN"), (2012, "AUS"), (2013, "CHN"), (2013, "AUS"), (2015, "AUS"),
        (2010, "USA"), (2011, "USA"), (2013, "USA"), (2014, "USA"), (2015, "USA"),
    }  # fmt: skip
    assert "W" in gaps[(gaps["year"] == 2013) & (gaps["country"] == "USA")]["reason"].iloc[0]
    assert (gaps["fill_method"] == "").all()


def test_no_fill_leaves_gaps_empty(gappy: pd.DataFrame) -> None:
    production = build_production(gappy, YEARS, gap_fill="none")["production"]
    assert set(production["flag"]) == {"reported"}
    assert not ((production["year"] == 2012) & (production["country"] == "CHN")).any()


def test_interpolation_is_linear_and_never_extrapolates(gappy: pd.DataFrame) -> None:
    tables = build_production(gappy, YEARS, gap_fill="interpolate")
    production = tables["production"]
    china_2012, china_2013 = row(production, 2012, "CHN"), row(production, 2013, "CHN")
    assert china_2012["value_t_reo"] == pytest.approx(110 + (140 - 110) / 3)
    assert china_2013["value_t_reo"] == pytest.approx(110 + 2 * (140 - 110) / 3)
    assert china_2012["flag"] == "interpolated" and "2011 and 2014" in china_2012["source"]
    assert not ((production["year"] == 2015) & (production["country"] == "AUS")).any()
    assert not ((production["year"] == 2010) & (production["country"] == "USA")).any()
    gaps = tables["gaps"]
    filled = gaps[gaps["fill_method"] == "interpolated"]
    assert ((filled["year"] == 2013) & (filled["country"] == "AUS")).any()
    assert len(production) == len(build_production(gappy, YEARS, gap_fill="none")["production"]) + len(filled)


def test_world_residual_goes_to_row_only_beyond_tolerance(gappy: pd.DataFrame) -> None:
    tables = build_production(gappy, YEARS, gap_fill="world_residual", world_check_tolerance=0.05)
    production = tables["production"]
    assert row(production, 2012, "ROW")["value_t_reo"] == pytest.approx(130 - 5)
    assert row(production, 2012, "ROW")["flag"] == "world_residual"
    assert row(production, 2013, "ROW")["value_t_reo"] == pytest.approx(145)
    assert "ROW" not in set(production.loc[production["year"] == 2014, "country"])  # AUS + CHN = world
    assert "ROW" not in set(production.loc[production["year"] == 2015, "country"])  # 0.5 t short: rounding
    assert set(tables["gaps"].loc[tables["gaps"]["year"] == 2012, "fill_method"]) == {"world_residual"}


def test_world_residual_never_overwrites_a_reported_row() -> None:
    records = frame([rec(2012, "CHN", 100, "MCS2014"), rec(2012, "ROW", 5, "MCS2014"), rec(2012, "WLD", 200, "MCS2014"),
                     rec(2011, "CHN", 100, "MCS2014"), rec(2011, "AUS", 10, "MCS2014")])  # fmt: skip
    production = build_production(records, [2011, 2012], gap_fill="world_residual")["production"]
    assert row(production, 2012, "ROW")["value_t_reo"] == 5
    assert row(production, 2012, "ROW")["flag"] == "reported"


def test_world_check_flags_a_mismatch(gappy: pd.DataFrame) -> None:
    check = build_production(gappy, YEARS, gap_fill="none", world_check_tolerance=0.05)["world_check"]
    by_year = check.set_index("year")
    assert bool(by_year.at[2010, "within_tolerance"])
    assert by_year.at[2010, "relative_difference"] == pytest.approx(0.0)
    assert bool(by_year.at[2014, "within_tolerance"])
    assert not bool(by_year.at[2012, "within_tolerance"])
    assert by_year.at[2012, "relative_difference"] == pytest.approx((5 - 130) / 130)
    assert by_year.at[2013, "n_countries"] == 0 and by_year.at[2013, "relative_difference"] == pytest.approx(-1.0)
    assert bool(by_year.at[2015, "within_tolerance"])  # 150 vs 150.5
    assert len(check) == len(YEARS)


def test_estimated_values_keep_their_flag() -> None:
    records = frame([rec(2020, "CHN", 140000, "MCS2022", estimated=True), rec(2020, "USA", 39000, "MCS2022")])
    production = build_production(records, [2020], gap_fill="none")["production"]
    assert row(production, 2020, "CHN")["flag"] == "estimated"
    assert row(production, 2020, "USA")["flag"] == "reported"
    assert list(production.columns) == PRODUCTION_COLUMNS
    assert set(production["stage"]) == {"mining"}


def test_years_outside_the_study_are_left_out(gappy: pd.DataFrame) -> None:
    tables = build_production(gappy, [2014, 2015], gap_fill="interpolate")
    assert set(tables["production"]["year"]) == {2014, 2015}
    assert set(tables["world_check"]["year"]) == {2014, 2015}


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def test_validation_names_table_column_and_rows() -> None:
    bad = pd.DataFrame({"year": [2020, 2020], "country": ["CHN", "usa"], "stage": ["mining"] * 2,
                        "value_t_reo": [-5.0, 1.0], "source": ["s"] * 2, "edition": ["MCS2022"] * 2,
                        "flag": ["reported", "guessed"]})  # fmt: skip
    with pytest.raises(ReeflowError) as err:
        validate(bad, production_schema([2020]))
    message = str(err.value)
    assert "table production" in message
    for column in ("value_t_reo", "country", "flag"):
        assert column in message
    assert "-5.0" in message and "guessed" in message


def test_salient_table_is_validated() -> None:
    records = frame([rec(2020, "CHN", 1.0, "MCS2022"), salient(2020, "imports", math.nan, code="")])
    with pytest.raises(ReeflowError, match="usgs_salient"):
        build_production(records, [2020], gap_fill="none")


def test_unknown_gap_fill_is_refused(gappy: pd.DataFrame) -> None:
    with pytest.raises(ReeflowError, match="gap_fill"):
        build_production(gappy, YEARS, gap_fill="guess")


# ---------------------------------------------------------------------------------------------
# The rule's function end to end on files, then every real file
# ---------------------------------------------------------------------------------------------


def write_input(root: Path, kind: str, name: str, text: str, edition: str) -> tuple[Path, Path]:
    raw = root / "raw" / "usgs" / kind / name
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(text, encoding="utf-8")
    provenance = root / "raw" / "usgs" / "provenance" / kind / f"{name}.json"
    provenance.parent.mkdir(parents=True, exist_ok=True)
    provenance.write_text(json.dumps({"kind": kind, "edition": edition, "source": "synthetic"}))
    return raw, provenance


def test_run_clean_production_writes_five_tables(tmp_path: Path) -> None:
    inputs = [
        write_input(tmp_path, "table", "synthetic-national.csv",
                    "year,country,value_t_reo,source\n2018,China,100000,SYNTHETIC\n2018,World,120000,SYNTHETIC\n"
                    "2019,China,110000,SYNTHETIC\n", "NATIONAL2019"),
        write_input(tmp_path, "mcs", "synthetic-world.csv",
                    "Source,Country,Type,Prod_t_2019,Prod_t_est_2020\nMCS2021,China,x,\"111,000\",\"120,000\"\n"
                    "MCS2021,United States,x,\"26,000\",W\nMCS2021,World total (rounded),x,\"140,000\",\"150,000\"\n",
                    "MCS2021"),
        write_input(tmp_path, "mcs", "synthetic-salient.csv",
                    "DataSource,Commodity,Year,Exports_Ores-Compounds_t\nMCS2021,Rare Earths,2019,\"28,300\"\n", ""),
    ]  # fmt: skip
    out = {name: tmp_path / "out" / f"{name}.{'parquet' if name in ('production', 'salient') else 'csv'}"
           for name in ("production", "salient", "revisions", "gaps", "world_check")}  # fmt: skip
    run_clean_production([i[0] for i in inputs], [i[1] for i in inputs], out,
                         ProductionSettings(edition_priority="latest", gap_fill="world_residual",
                                            world_check_tolerance=0.05),
                         [2018, 2019, 2020])  # fmt: skip
    production = pd.read_parquet(out["production"])
    assert (
        row(production, 2019, "CHN")["value_t_reo"] == 111000 and row(production, 2019, "CHN")["edition"] == "MCS2021"
    )
    assert row(production, 2018, "CHN")["edition"] == "NATIONAL2019"
    assert (
        row(production, 2020, "ROW")["value_t_reo"] == 30000
        and row(production, 2020, "ROW")["flag"] == "world_residual"
    )
    revisions = pd.read_csv(out["revisions"])
    assert ((revisions["edition"] == "NATIONAL2019") & (revisions["chosen_value"] == 111000)).any()
    gaps = pd.read_csv(out["gaps"])
    assert "W" in gaps.loc[(gaps["year"] == 2020) & (gaps["country"] == "USA"), "reason"].iloc[0]
    assert pd.read_parquet(out["salient"])["value"].tolist() == [28300.0]
    assert set(pd.read_csv(out["world_check"])["year"]) == {2018, 2019, 2020}
    assert not list((tmp_path / "out").glob(".*.part"))


@pytest.fixture(scope="module")
def real_tables() -> dict[str, dict[str, pd.DataFrame]]:
    from test_usgs import REAL_FILES

    from reeflow.acquire.usgs import parse_usgs_file

    folder = REAL / "usgs"  # module-scoped, so it cannot use the function-scoped real_data fixture
    if not folder.is_dir():
        pytest.skip("../shared/data/real is absent")
    records = pd.concat([parse_usgs_file(folder / n, k) for n, k in REAL_FILES.items()], ignore_index=True)
    years = list(range(2000, 2023))
    return {fill: build_production(records, years, gap_fill=fill) for fill in ("none", "interpolate", "world_residual")}


def test_real_editions_combine_into_one_table(real_data: Path, real_tables: dict) -> None:
    tables = real_tables["none"]
    production = tables["production"]
    assert not production.duplicated(["year", "country", "stage"]).any()
    china_2022 = row(production, 2022, "CHN")
    assert (china_2022["value_t_reo"], china_2022["edition"]) == (210000.0, "MCS2024")
    usa_2021 = row(production, 2021, "USA")
    assert (usa_2021["value_t_reo"], usa_2021["edition"]) == (42400.0, "MYB2022")
    revisions = tables["revisions"]
    usa = revisions[(revisions["year"] == 2021) & (revisions["country"] == "USA")]
    assert set(usa["edition"]) == {"MCS2022", "MCS2023"} and set(usa["chosen_value"]) == {42400.0}
    assert row(production, 2005, "CHN")["value_t_reo"] == 119000.0
    assert "WLD" not in set(production["country"])


def test_real_gap_years_and_fills(real_data: Path, real_tables: dict) -> None:
    gaps = real_tables["none"]["gaps"]
    china = gaps[(gaps["country"] == "CHN")]
    assert set(china["year"]) == {2016, 2017}
    assert set(china["reason"]) == {"no country-level data for this year"}
    check = real_tables["none"]["world_check"].set_index("year")
    assert not check.at[2016, "within_tolerance"] and check.at[2018, "within_tolerance"]
    interpolated = row(real_tables["interpolate"]["production"], 2016, "CHN")
    assert interpolated["flag"] == "interpolated" and 105000 < interpolated["value_t_reo"] < 120000
    residual = row(real_tables["world_residual"]["production"], 2016, "ROW")
    assert residual["flag"] == "world_residual" and residual["value_t_reo"] == 133000.0


def test_interpolate_then_residual_keeps_trends_and_the_world_total() -> None:
    records = frame(full_years("CHN", {2010: 100.0, 2012: 120.0}) + full_years("AUS", {2010: 5.0, 2012: 5.0})
                    + full_years("WLD", {2010: 105.0, 2011: 150.0, 2012: 125.0}))  # fmt: skip
    tables = build_production(records, [2010, 2011, 2012], gap_fill="interpolate_then_residual")
    production = tables["production"]
    assert row(production, 2011, "CHN")["value_t_reo"] == pytest.approx(110.0)
    assert row(production, 2011, "ROW")["value_t_reo"] == pytest.approx(150.0 - 110.0 - 5.0)
    assert row(production, 2011, "ROW")["flag"] == "world_residual"
    by_year = production.groupby("year")["value_t_reo"].sum()
    assert by_year[2011] == pytest.approx(150.0)
    assert set(tables["gaps"]["fill_method"]) == {"interpolated"}


def test_real_interpolate_then_residual_fills_2016(real_data: Path, real_tables: dict) -> None:
    from reeflow.acquire.usgs import parse_usgs_file

    folder = real_data / "usgs"
    records = pd.concat([parse_usgs_file(folder / n, k) for n, k in __import__("test_usgs").REAL_FILES.items()])
    tables = build_production(records, list(range(2014, 2019)), gap_fill="interpolate_then_residual")
    production = tables["production"]
    china = row(production, 2016, "CHN")
    assert china["flag"] == "interpolated" and 105000 < china["value_t_reo"] < 120000
    total_2016 = production.loc[production["year"] == 2016, "value_t_reo"].sum()
    assert total_2016 == pytest.approx(133000.0, rel=0.05)


# ---------------------------------------------------------------------------------------------
# Stage statistics after mining: MCS US compounds and metals, the cited table, coverage
# ---------------------------------------------------------------------------------------------


def separation_salient(year: int, value: float, edition: str, code: str = "") -> dict:
    return salient(year, "production_compounds_metals", value, edition, code=code)


def mined(years: list[int]) -> list[dict]:
    return full_years("USA", {y: 40000.0 for y in years}) + full_years("CHN", {y: 100000.0 for y in years})


@pytest.mark.parametrize(("priority", "value_2021", "edition_2021"), [("latest", 120.0, "MCS2024"),
                                                                      ("earliest", 230.0, "MCS2022")])
def test_us_separation_comes_from_the_mcs_salient_statistic(priority: str, value_2021: float,
                                                            edition_2021: str) -> None:
    records = frame(mined([2020, 2021, 2022]) + [
        separation_salient(2020, 0.0, "MCS2022"), separation_salient(2021, 230.0, "MCS2022"),
        separation_salient(2021, 120.0, "MCS2024"), separation_salient(2022, math.nan, "MCS2024", code="W"),
        {**separation_salient(2021, 999.0, "MCS2024"), "commodity": "Rare Earths (Heavy)"},  # not this series
    ])  # fmt: skip
    tables = build_production(records, [2020, 2021, 2022], edition_priority=priority, gap_fill="none")
    production = tables["production"]
    us_2021 = row(production, 2021, "USA", "separation")
    assert (us_2021["value_t_reo"], us_2021["edition"], us_2021["flag"]) == (value_2021, edition_2021, "reported")
    assert "compounds and metals" in us_2021["source"]
    assert row(production, 2020, "USA", "separation")["value_t_reo"] == 0.0  # a reported zero is a statistic
    assert production[(production["year"] == 2022) & (production["stage"] == "separation")].empty  # W: no value
    assert row(production, 2021, "USA")["value_t_reo"] == 40000.0  # mining untouched
    assert set(tables["gaps"]["country"]) <= {"USA", "CHN"} and tables["gaps"].empty
    assert (tables["world_check"]["n_countries"] == 2).all()  # the world check counts mining only


def write_stage_csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "stage_statistics.csv"
    path.write_text("\n".join([",".join(STAGE_STATISTIC_COLUMNS), *lines]) + "\n", encoding="utf-8")
    return path


GOOD_ROW = "2021,CHN,separation,162000,,,quota,MIIT quota,https://example.org/quota-2021"


def test_stage_statistics_table_enters_the_production_table(tmp_path: Path) -> None:
    path = write_stage_csv(tmp_path, [GOOD_ROW, "2021,USA,separation,500,400,600,estimated,a study,doi:10/x",
                                      "2030,MYS,separation,10000,,,reported,outside the study,ref"])
    table = load_stage_statistics(path)
    records = frame(mined([2021]) + [separation_salient(2021, 120.0, "MCS2024")])
    production = build_production(records, [2021], gap_fill="none", stage_statistics=table)["production"]
    china = row(production, 2021, "CHN", "separation")
    assert (china["value_t_reo"], china["flag"], china["edition"]) == (162000.0, "quota", "stage_statistics")
    assert "https://example.org/quota-2021" in china["source"]
    assert row(production, 2021, "USA", "separation")["value_t_reo"] == 500.0  # the cited table wins over MCS
    assert 2030 not in set(production["year"])
    assert list(production.columns) == PRODUCTION_COLUMNS


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("2021,CHN,smelting,1,,,quota,s,c", "stage", "unknown stage"),
        ("2021,CHN,mining,1,,,quota,s,c", "stage", "mining is not allowed"),
        ("2021,CHN,separation,-5,,,quota,s,c", "value_t_reo", ">= 0"),
        ("2021,CHN,separation,,,,quota,s,c", "value_t_reo", "missing"),
        ("2021,XYZ,separation,1,,,quota,s,c", "country", "ISO 3166"),
        ("2021,CHN,separation,1,,,guess,s,c", "basis", "use one of"),
        ("2021,CHN,separation,1,,,quota,s,", "citation", "citation"),
        (GOOD_ROW, "year/country/stage", "duplicate of row 2"),
    ],
)
def test_stage_statistics_errors_name_file_row_column_and_fix(tmp_path: Path, line: str, column: str,
                                                               message: str) -> None:
    path = write_stage_csv(tmp_path, [GOOD_ROW, line])
    with pytest.raises(ReeflowError, match="stage_statistics.csv") as err:
        load_stage_statistics(path)
    text = str(err.value)
    assert f"row 3, column {column}" in text and message in text


def test_stage_statistics_missing_file_or_column(tmp_path: Path) -> None:
    with pytest.raises(ReeflowError, match=r"nowhere\.csv.*production\.stage_statistics"):
        load_stage_statistics(tmp_path / "nowhere.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("year,country,value_t_reo\n2021,CHN,1\n")
    with pytest.raises(ReeflowError, match=r"bad\.csv: missing column.*stage"):
        load_stage_statistics(bad)


def test_the_repository_stage_statistics_table_is_valid(repo_root: Path) -> None:
    table = load_stage_statistics(repo_root / "config" / "stage_statistics.csv")
    assert not table.empty and (table["citation"].str.len() > 0).all()
    assert set(table["stage"]) <= {"separation", "metal", "intermediate", "final"}


def test_a_year_no_edition_covers_is_an_error() -> None:
    records = frame(mined([2020, 2021]))
    for fill in ("none", "interpolate_then_residual"):
        with pytest.raises(ReeflowError, match=r"\[2022\].*add an MCS edition.*years\.end"):
            build_production(records, [2020, 2021, 2022], gap_fill=fill)


def test_run_clean_production_reads_the_stage_statistics(tmp_path: Path) -> None:
    raw, provenance = write_input(
        tmp_path, "mcs", "synthetic-world.csv",
        "Source,Country,Type,Prod_t_2021\nMCS2022,China,x,\"168,000\"\nMCS2022,World total (rounded),x,\"168,000\"\n",
        "MCS2022",
    )  # fmt: skip
    stage = write_stage_csv(tmp_path, [GOOD_ROW])
    out = {name: tmp_path / "out" / f"{name}.{'parquet' if name in ('production', 'salient') else 'csv'}"
           for name in ("production", "salient", "revisions", "gaps", "world_check")}  # fmt: skip
    settings = ProductionSettings(edition_priority="latest", gap_fill="none", world_check_tolerance=0.05)
    run_clean_production([raw], [provenance], out, settings, [2021], stage_statistics_path=stage)
    production = pd.read_parquet(out["production"])
    assert row(production, 2021, "CHN", "separation")["value_t_reo"] == 162000.0
    assert row(production, 2021, "CHN")["value_t_reo"] == 168000.0


def test_real_us_separation_is_the_mcs_compounds_and_metals_statistic(real_data: Path, real_tables: dict) -> None:
    """MCS: US production of compounds and metals 0-120 t in 2019-2022, not 40 kt of derived separation."""
    production = real_tables["none"]["production"]
    for year in (2019, 2020, 2021, 2022):
        us = row(production, year, "USA", "separation")
        assert 0.0 <= us["value_t_reo"] <= 120.0, (year, us["value_t_reo"])
        assert us["edition"].startswith("MCS") and us["flag"] in ("reported", "estimated")
    assert row(production, 2021, "USA", "separation")["value_t_reo"] == 120.0  # MCS2023/2024 revision of 230
    assert set(production["stage"]) == {"mining", "separation"}
