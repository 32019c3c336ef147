"""USGS parsers: codes, drifting columns and encodings, broken files, and every real file in place.

Synthetic files are written by the tests (their contents say SYNTHETIC); real files are read from
../shared/data/real/usgs through the ``real_data`` fixture.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import REAL
from hypothesis import given
from hypothesis import strategies as st

from reeflow.acquire.usgs import (
    RECORD_COLUMNS,
    combined_statistic,
    guess_edition,
    parse_usgs_file,
    parse_value,
    salient_statistic,
    split_footnotes,
)
from reeflow.io import ReeflowError

REAL_FILES = {
    "rare_earths_mcs2022-raree_salient.csv": "mcs",
    "rare_earths_mcs2022-raree_world.csv": "mcs",
    "mcs2023-raree_salient.csv": "mcs",
    "mcs2023-raree_world.csv": "mcs",
    "mcs2023-scandi_salient.csv": "mcs",
    "mcs2023-yttri_salient.csv": "mcs",
    "mcs2024-raree_salient.csv": "mcs",
    "mcs2024-raree_world.csv": "mcs",
    "mcs2024-yttri_salient.csv": "mcs",
    "usgs_mcs2026_commodities_data.csv": "mcs_combined",
    "usgs_ds140_rare_earths_2020.xlsx": "ds140",
    "usgs_myb2022_rare_earths_tables.xlsx": "myb",
    "world-mine-production-1998-2015.csv": "table",
}
WORLD_TYPE = '"Rare earths, mine production, rare-earth-oxide equivalent, metric tons"'


def value_of(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        mask &= frame[column] == wanted
    return frame.loc[mask]


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    rows = value_of(frame, **where)
    assert len(rows) == 1, f"expected one row for {where}, got {len(rows)}"
    return rows.iloc[0]


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "code", "estimated"),
    [
        ("1,300", 1300.0, "", False),
        (" 42,400 ", 42400.0, "", False),
        ("2,900e", 2900.0, "e", True),
        ("300 r", 300.0, "r", False),
        ("W", math.nan, "W", False),
        ("NA", math.nan, "NA", False),
        ("XX", math.nan, "XX", False),
        ("E", math.nan, "E", False),
        (">95", math.nan, ">95", False),
        (">85,000,000", math.nan, ">85000000", False),
        ("--", 0.0, "--", False),
        ("\u2014", 0.0, "--", False),
        ("", math.nan, "", False),
        (None, math.nan, "", False),
        (17900, 17900.0, "", False),
        (2.5, 2.5, "", False),
    ],
)
def test_parse_value_keeps_codes_apart(raw: object, value: float, code: str, estimated: bool) -> None:
    got_value, got_code, got_estimated = parse_value(raw)
    assert (math.isnan(got_value) and math.isnan(value)) or got_value == value
    assert got_code == code
    assert got_estimated is estimated


@given(st.integers(min_value=0, max_value=10**9))
def test_thousands_separators_round_trip(number: int) -> None:
    value, code, _ = parse_value(f"{number:,}")
    assert value == number and code == ""


@given(st.sampled_from(["W", "NA", "XX", "E", ">95", "<1", "Large"]))
def test_a_code_is_never_a_number(code: str) -> None:
    value, got, _ = parse_value(code)
    assert math.isnan(value) and got == code


def test_salient_column_drift_gives_one_statistic() -> None:
    assert salient_statistic("NIR_Compounds-Metals_pct") == salient_statistic("NIR_Compounds-Metals_t")
    assert salient_statistic("NIR_Compounds-Metals_t") == ("nir_compounds_metals", "percent")
    assert salient_statistic("Employment_num") == salient_statistic("Employment_m") == ("employment", "number")
    assert salient_statistic("Exports_Ores-Compounds_t") == ("exports_ores_compounds", "t")
    assert combined_statistic("Exports: Ores and compounds") == "exports_ores_compounds"
    assert combined_statistic("Price, average, dollars per kilogram: Mischmetal, 65% cerium") == "price_mischmetal"


@pytest.mark.parametrize(
    ("label", "name", "mark"),
    [("Australiae", "Australia", "e"), ("Indiae, 4", "India", "e"), ("China3", "China", ""),
     ("Ukraine", "Ukraine", ""), ("Mozambique", "Mozambique", ""), ("Thailande, 5", "Thailand", "e")],
)  # fmt: skip
def test_yearbook_footnotes_split_from_names(label: str, name: str, mark: str) -> None:
    assert split_footnotes(label) == (name, mark)


def test_edition_guessed_from_file_names() -> None:
    assert guess_edition("mcs2023-raree_world.csv", "mcs") == "MCS2023"
    assert guess_edition("rare_earths_mcs2022-raree_salient.csv", "mcs") == "MCS2022"
    assert guess_edition("myb1-2022-raree-ert.xlsx", "myb") == "MYB2022"
    assert guess_edition("ds140-rare-earths-2020.xlsx", "ds140") == "DS140-2020"
    assert guess_edition("national.csv", "table") == "TABLE"


# ---------------------------------------------------------------------------------------------
# Synthetic drift: the editions' column names, encodings and codes parse into one shape
# ---------------------------------------------------------------------------------------------


def write_world(path: Path, header: str, rows: list[str], encoding: str = "utf-8-sig", trailing: int = 0) -> Path:
    lines = [header, *rows] + ["," * 12] * trailing
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_world_files_of_three_editions_parse_alike(tmp_path: Path) -> None:
    a = write_world(
        tmp_path / "mcs2022-raree_world.csv",
        "Source,Country,Type,Prod_t_2020,Prod_t_Est_2021",
        [f'MCS2022,China,{WORLD_TYPE},140000,"168,000"', f"MCS2022,World total (rounded),{WORLD_TYPE},1,2"],
    )
    b = write_world(
        tmp_path / "b.csv",
        "Source,Country,Type,Prod_t_2021,Prod_t_est_2022,Prod_notes,Reserves_t",
        [f"MCS2023,China,{WORLD_TYPE},\"168,000\",\"210,000\",SYNTHETIC,NA",
         f"MCS2023,Burma,{WORLD_TYPE},W,\"12,000\",Estimated in 2021 also.,NA"],
        trailing=4,
    )  # fmt: skip
    c = write_world(
        tmp_path / "c.csv",
        "Source,Country,Type,Prod_t_est_2022,Prod_t_est_2023",
        [f"MCS2024,Côte d'Ivoire,{WORLD_TYPE},--,>5", f"MCS2024,Other countries,{WORLD_TYPE},80,80"],
        encoding="cp1252",
    )
    frames = [parse_usgs_file(p, "mcs") for p in (a, b, c)]
    for frame in frames:
        assert list(frame.columns) == RECORD_COLUMNS
        assert set(frame["table"]) == {"production"}
    first, second, third = frames
    assert one(first, country="CHN", year=2021)["value"] == 168000.0
    assert one(first, country="CHN", year=2021)["estimated"] and not one(first, country="CHN", year=2020)["estimated"]
    assert one(first, country="WLD", year=2020)["edition"] == "MCS2022"
    burma = one(second, country="MMR", year=2021)
    assert math.isnan(burma["value"]) and burma["code"] == "W" and burma["estimated"]
    assert one(second, country="CHN", year=2022)["value"] == 210000.0
    assert one(third, country="CIV", year=2022)["value"] == 0.0
    assert one(third, country="CIV", year=2023)["code"] == ">5"
    assert one(third, country="ROW", year=2023)["value"] == 80.0


def test_salient_files_with_drifting_columns_share_statistics(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text(
        "\ufeffDataSource,Commodity,Year,Exports_Ores-Compounds_t,Employment_num,NIR_Compounds-Metals_pct\r\n"
        'MCS2023,Rare Earths,2018,"17,900",190,100\r\n',
        encoding="utf-8",
    )
    new = tmp_path / "new.csv"
    new.write_text(
        "DataSource,Commodity,Year,Exports_Ores-Compounds_t,Employment_m,NIR_Compounds-Metals_t,\r\n"
        "MCS2024,Rare Earths,2018,18000,200,>95,\r\n,,,,,,\r\n",
        encoding="utf-8",
    )
    a, b = parse_usgs_file(old, "mcs"), parse_usgs_file(new, "mcs")
    assert (
        set(a["statistic"]) == set(b["statistic"]) == {"exports_ores_compounds", "employment", "nir_compounds_metals"}
    )
    assert one(a, statistic="exports_ores_compounds")["value"] == 17900.0
    nir = one(b, statistic="nir_compounds_metals")
    assert math.isnan(nir["value"]) and nir["code"] == ">95" and nir["unit"] == "percent"
    assert set(a["edition"]) == {"MCS2023"} and set(b["edition"]) == {"MCS2024"}


def test_table_kind_uses_configured_edition_and_source(tmp_path: Path) -> None:
    path = tmp_path / "synthetic-table.csv"
    path.write_text('year,country,value_t_reo,source\n2016,China,"105,000",SYNTHETIC\n2016,World,W,SYNTHETIC\n')
    frame = parse_usgs_file(path, "table", edition="NATSTAT2019")
    assert set(frame["edition"]) == {"NATSTAT2019"}
    assert one(frame, country="CHN")["value"] == 105000.0
    assert one(frame, country="WLD")["code"] == "W"


# ---------------------------------------------------------------------------------------------
# Broken files
# ---------------------------------------------------------------------------------------------


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "no-country.csv"
    path.write_text("Source,Nation,Prod_t_2021\nMCS2023,China,1\n")
    with pytest.raises(ReeflowError, match=r"no-country\.csv.*'Country'"):
        parse_usgs_file(path, "mcs")
    table = tmp_path / "table.csv"
    table.write_text("year,country,tonnes\n2020,China,1\n")
    with pytest.raises(ReeflowError, match=r"table\.csv.*'value_t_reo'"):
        parse_usgs_file(table, "table")
    combined = tmp_path / "combined.csv"
    combined.write_text("MCS chapter,Section,Commodity,Country,Statistics,Unit,Year,Value\n")
    with pytest.raises(ReeflowError, match=r"combined\.csv.*'Statistics_detail'"):
        parse_usgs_file(combined, "mcs_combined")


@pytest.mark.parametrize("kind", ["mcs", "mcs_combined", "table", "ds140", "myb"])
def test_html_page_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "page.csv"
    path.write_text("<!DOCTYPE html>\n<html><body>Sign in to ScienceBase</body></html>\n")
    with pytest.raises(ReeflowError, match="HTML page"):
        parse_usgs_file(path, kind)


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 4)
    for kind in ("mcs", "table", "ds140", "myb"):
        with pytest.raises(ReeflowError, match="garbage.bin"):
            parse_usgs_file(path, kind)


def test_unknown_country_is_an_error_not_a_drop(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("year,country,value_t_reo\n2020,Atlantis,5\n")
    with pytest.raises(ReeflowError, match="Atlantis.*NAME_ALIASES"):
        parse_usgs_file(path, "table")


# ---------------------------------------------------------------------------------------------
# Every real file, read in place
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_records() -> dict[str, pd.DataFrame]:
    folder = REAL / "usgs"  # module-scoped, so it cannot use the function-scoped real_data fixture
    if not folder.is_dir():
        pytest.skip("../shared/data/real is absent")
    return {name: parse_usgs_file(folder / name, kind) for name, kind in REAL_FILES.items()}


def test_every_real_file_parses(real_data: Path, real_records: dict[str, pd.DataFrame]) -> None:
    listed = {p.name for p in (real_data / "usgs").iterdir() if p.suffix in (".csv", ".xlsx")}
    assert listed == set(REAL_FILES), "a real USGS file is not covered by REAL_FILES"
    for name, frame in real_records.items():
        assert list(frame.columns) == RECORD_COLUMNS, name
        assert len(frame) > 0, name
        assert frame["edition"].str.len().gt(0).all(), name
        assert frame["value"].notna().any(), name


def test_real_mcs_world_values(real_records: dict[str, pd.DataFrame]) -> None:
    mcs2024 = real_records["mcs2024-raree_world.csv"]
    china = one(mcs2024, country="CHN", year=2022)
    assert china["value"] == 210000.0 and china["estimated"] and china["edition"] == "MCS2024"
    assert one(mcs2024, country="WLD", year=2023)["value"] == 350000.0
    assert len(mcs2024) == 32  # 16 rows x 2 years: the trailing blank rows and columns are gone
    mcs2023 = real_records["mcs2023-raree_world.csv"]
    assert one(mcs2023, country="AUS", year=2021)["estimated"]  # "Estimated in 2021 also."
    assert not one(mcs2023, country="USA", year=2021)["estimated"]
    assert one(mcs2023, country="ROW", year=2022)["value"] == 80.0
    assert one(real_records["rare_earths_mcs2022-raree_world.csv"], country="MMR", year=2020)["value"] == 31000.0


def test_real_salient_values(real_records: dict[str, pd.DataFrame]) -> None:
    mcs2023 = real_records["mcs2023-raree_salient.csv"]
    assert one(mcs2023, year=2018, statistic="exports_ores_compounds")["value"] == 17900.0
    assert one(mcs2023, year=2022, statistic="nir_concentrate")["code"] == "E"
    assert (
        one(real_records["mcs2024-raree_salient.csv"], year=2021, statistic="consumption_compounds_metals")["value"]
        == 7900.0
    )
    mcs2022 = real_records["rare_earths_mcs2022-raree_salient.csv"]
    assert one(mcs2022, year=2017, statistic="nir_concentrate")["code"] == "XX"
    assert one(mcs2022, year=2021, statistic="nir_compounds_metals")["code"] == ">90"
    for name in ("mcs2023-yttri_salient.csv", "mcs2024-yttri_salient.csv", "mcs2023-scandi_salient.csv"):
        frame = real_records[name]
        assert set(frame["table"]) == {"salient"}, name  # parse, but give no mine production
    assert one(real_records["mcs2023-yttri_salient.csv"], year=2022, statistic="imports_all")["value"] == 1000.0


def test_real_mcs2026_combined(real_records: dict[str, pd.DataFrame]) -> None:
    frame = real_records["usgs_mcs2026_commodities_data.csv"]
    production = frame[frame["table"] == "production"]
    assert set(production["year"]) == {2024, 2025}
    assert one(production, country="CHN", year=2024)["value"] == 270000.0
    canada = one(production, country="CAN", year=2024)
    assert canada["value"] == 0.0 and canada["code"] == "--"
    assert one(production, country="WLD", year=2025)["value"] == 390000.0
    salient = frame[frame["table"] == "salient"]
    assert one(salient, year=2021, statistic="exports_ores_compounds")["value"] == 45700.0
    assert one(salient, year=2021, statistic="nir_concentrate")["code"] == "E"
    assert not salient.duplicated(["year", "commodity", "statistic"]).any()
    assert set(frame["edition"]) == {"MCS2026"}


def test_real_ds140(real_records: dict[str, pd.DataFrame]) -> None:
    frame = real_records["usgs_ds140_rare_earths_2020.xlsx"]
    world = frame[(frame["table"] == "production") & (frame["country"] == "WLD")]
    assert world["year"].min() == 1900 and world["year"].max() == 2020
    assert one(world, year=2016)["value"] == 133000.0
    assert one(frame, table="production", country="USA", year=2018)["value"] == 14000.0
    assert one(frame, table="salient", year=2019, statistic="exports")["value"] == 29500.0
    assert (frame["code"] == "W").any() and (frame["code"] == "NA").any()


def test_real_myb_table_8(real_records: dict[str, pd.DataFrame]) -> None:
    frame = real_records["usgs_myb2022_rare_earths_tables.xlsx"]
    assert set(frame["year"]) == {2018, 2019, 2020, 2021, 2022}
    china = one(frame, country="CHN", year=2022)
    assert china["value"] == 210000.0 and china["estimated"]
    assert not one(frame, country="CHN", year=2021)["estimated"]
    assert one(frame, country="IND", year=2020)["estimated"]  # "Indiae, 4": the whole row is estimated
    assert one(frame, country="WLD", year=2022)["value"] == 297000.0
    assert one(frame, country="BDI", year=2022)["value"] == 0.0
    assert one(frame, country="USA", year=2021)["value"] == 42400.0


def test_real_long_table(real_records: dict[str, pd.DataFrame]) -> None:
    frame = real_records["world-mine-production-1998-2015.csv"]
    assert one(frame, country="KGZ", year=1998)["value"] == 7046.0
    assert one(frame, country="CIS", year=1999)["value"] == 2000.0
    assert one(frame, country="WLD", year=2015)["value"] == 130000.0
    assert frame["source"].str.contains("Minerals Yearbook").all()


# ---------------------------------------------------------------------------------------------
# Per-year yearbook compilations (kind myb_hhi)
# ---------------------------------------------------------------------------------------------


def test_myb_compilation_real_years_match_reference_figures(real_data: Path) -> None:
    folder = real_data / "usgs" / "myb-world-production-1998-2015"
    frame = parse_usgs_file(folder / "2000 Data.csv", "myb_hhi")
    values = frame.set_index("country")["value"]
    assert values["CHN"] == 73000.0 and values["WLD"] == 92700.0  # method.md reference figures
    assert set(frame["year"]) == {2000} and set(frame["edition"]) == {"MYB2000-compiled"}
    for path in sorted(folder.glob("* Data.csv")):
        assert not parse_usgs_file(path, "myb_hhi").empty, path.name


def test_myb_compilation_without_production_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "2005 Data.csv"  # SYNTHETIC
    path.write_text("Element,Country,Total World Production\nRare Earths,China,122000\n")
    with pytest.raises(ReeflowError) as info:
        parse_usgs_file(path, "myb_hhi")
    assert "2005 Data.csv" in str(info.value) and "Production" in str(info.value)


def test_myb_compilation_skips_empty_cells_and_other_elements(tmp_path: Path) -> None:
    path = tmp_path / "2010 Data.csv"  # SYNTHETIC
    path.write_text(
        "Element,HHI Contribution,HHI ,Country,Production,Market Share,Total World Production\n"
        "Al,1,2,Australia,100,0.5,200\n"
        "Rare Earths,1,2,China,\"89,200\",0.9,\"99,500\"\n"
        "Rare Earths,0,,United States,,,\n"
    )
    frame = parse_usgs_file(path, "myb_hhi")
    assert sorted(frame["country"]) == ["CHN", "WLD"]
    assert frame.set_index("country")["value"].to_dict() == {"CHN": 89200.0, "WLD": 99500.0}
