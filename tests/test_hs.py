"""reeflow.clean.hs: codes across HS revisions, headings, aggregates (SYNTHETIC tables and the real China files)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.acquire.raw import read_comtrade_file
from reeflow.clean import hs
from reeflow.clean.declarations import reported_from_records
from reeflow.commodities import HS_REVISIONS, cleaning_records, load_commodities
from reeflow.io import ReeflowError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The project's own commodity table (the revision rules under test live there)."""
    rows = load_commodities(ROOT / "config" / "commodities.csv")
    return hs.commodity_frame(cleaning_records(rows))


def mapped(codes: list[str], revs: list[str], table: pd.DataFrame) -> pd.DataFrame:
    return hs.map_codes(pd.Series(codes, dtype=str), pd.Series(revs, dtype=str), table)


@pytest.mark.parametrize(
    ("code", "rev", "hs6", "status"),
    [
        ("870390", "H4", "870390", hs.MAPPED),  # cars incl. hybrids before HS2017
        ("870390", "H5", "", hs.REVISION_EXCLUDED),  # from HS2017 hybrids have their own lines
        ("870340", "H5", "870340", hs.MAPPED),
        ("870380", "H6", "870380", hs.MAPPED),
        ("870380", "H4", "", hs.REVISION_EXCLUDED),
        ("850780", "H3", "850780", hs.MAPPED),  # NiMH before HS2012
        ("850780", "H4", "", hs.REVISION_EXCLUDED),
        ("850750", "H4", "850750", hs.MAPPED),
        ("284690", "H0", "284690", hs.MAPPED),
        ("284600", "H2", "2846", hs.HEADING),  # a six-digit line not in the table, under a listed heading
        ("2846", "H1", "2846", hs.MAPPED),
        ("999999", "H5", "", hs.NO_TABLE_ROW),
        ("8703", "H5", "", hs.NO_TABLE_ROW),
        ("28", "H5", "", hs.NOT_HS),
        ("TOTAL", "H5", "", hs.NOT_HS),
    ],
)
def test_codes_map_only_within_their_revisions(code: str, rev: str, hs6: str, status: str, table: pd.DataFrame) -> None:
    got = mapped([code], [rev], table).iloc[0]
    assert (got["hs6"], got["map_status"]) == (hs6, status)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["2846", "284610", "284690", "284699", "280530", "870390", "870380",
                                           "850780", "850750", "253090", "720299", "123456", "2805"]),
                          st.sampled_from(HS_REVISIONS)), min_size=1, max_size=30))  # fmt: skip
def test_a_mapped_code_is_an_applicable_table_row_containing_it(pairs: list[tuple[str, str]]) -> None:
    rows = load_commodities(ROOT / "config" / "commodities.csv")
    table = hs.commodity_frame(cleaning_records(rows))
    codes, revs = zip(*pairs, strict=True)
    got = mapped(list(codes), list(revs), table)
    for code, rev, (hs6, status) in zip(codes, revs, got.itertuples(index=False), strict=True):
        if hs6:
            assert hs6 in hs.applicable_codes(table, rev) and code.startswith(hs6)
            assert status in (hs.MAPPED, hs.HEADING)
        else:
            assert status not in (hs.MAPPED, hs.HEADING)


def test_headings_reported_beside_their_children_are_aggregates() -> None:
    records = pd.DataFrame({
        "year": 2021, "reporter_code": 842, "flow": "X",
        "partner_code": [156, 156, 156, 392, 392],
        "cmd_code": ["2846", "284690", "284610", "2846", "280530"],
        "classification": "H5",
    })  # fmt: skip
    table = hs.commodity_frame([
        {"hs_code": "2846", "stage": "separation", "revisions": ""},
        {"hs_code": "284690", "stage": "separation", "revisions": ""},
        {"hs_code": "280530", "stage": "metal", "revisions": ""},
    ])  # fmt: skip
    got = hs.map_records(records, table)
    # To China the heading has children: dropped; 284610 is not listed but its heading is.
    assert got["map_status"].tolist() == [hs.AGGREGATE, hs.MAPPED, hs.HEADING, hs.MAPPED, hs.MAPPED]
    assert got["hs6"].tolist() == ["", "284690", "2846", "2846", "280530"]


def test_normalise_cmd_code_restores_lost_leading_zeros() -> None:
    got = hs.normalise_cmd_code(pd.Series(["10110", "2846.0", " 280530 ", "280530", None], dtype=object))
    assert got.tolist() == ["010110", "2846", "280530", "280530", ""]


@pytest.mark.parametrize(("year", "rev"), [(1990, "H0"), (1996, "H1"), (2011, "H3"), (2012, "H4"), (2022, "H6")])
def test_revision_from_year(year: int, rev: str) -> None:
    assert hs.revision_from_year(year) == rev


def test_fill_revisions_keeps_valid_codes_and_fills_the_rest() -> None:
    got = hs.fill_revisions(pd.Series(["h3", None, "HS", "H6"]), pd.Series([2008, 2018, 2000, 2023]))
    assert got.tolist() == ["H3", "H5", "H1", "H6"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "empty"),
        ([{"hs_code": "28", "stage": "metal", "revisions": ""}], "4 or 6 digits"),
        ([{"hs_code": "280530", "stage": "smelting", "revisions": ""}], "stage"),
        ([{"hs_code": "280530", "stage": "metal", "revisions": "H9"}], "unknown HS revision"),
        ([{"hs_code": "280530", "stage": "metal"}], "revisions"),
    ],
)
def test_bad_commodity_params_are_reported(rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ReeflowError, match=message):
        hs.commodity_frame(rows)


def test_real_china_imports_1993_2024_map_to_one_series(real_data: Path, table: pd.DataFrame) -> None:
    folder = real_data / "comtrade" / "china-imports-2846"
    records = pd.concat(
        [read_comtrade_file(p) for p in sorted(folder.glob("[12][0-9][0-9][0-9].json"))], ignore_index=True
    )
    commodities = table.assign(revisions=table["revisions"].map("|".join)).to_dict("records")
    rep, unmapped = reported_from_records(records, commodities, str(folder))
    assert set(rep["classification"]) == set(HS_REVISIONS)  # reported in H0 .. H6 over the years
    assert rep["year"].nunique() == 32
    assert set(rep["hs6"]) == {"2846"} and (rep["map_status"] == hs.MAPPED).all()
    assert set(unmapped["reason"]) <= {"partner_not_a_country"}  # areas nes and SACU, never a code
