"""reeflow.acquire.raw.CLEANING_FIELDS: the trade cleaning reads only these v1 fields, and reading only
them changes none of its tables (SYNTHETIC records)."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from comtrade_server import envelope, synthetic_record
from reeflow.acquire.raw import CLEANING_FIELDS, ESSENTIAL_FIELDS, V1_FIELDS, comtrade_records
from reeflow.clean import declarations
from reeflow.clean.declarations import reported_from_records
from reeflow.io import ReeflowError, write_json_atomic

COMMODITIES: list[dict[str, str]] = [
    {"hs_code": "2846", "stage": "separation", "unit_basis": "t", "revisions": ""},
    {"hs_code": "870380", "stage": "final", "unit_basis": "item", "revisions": "H5|H6"},
]


def _names_in(path: Path) -> set[str]:
    """Every string constant and attribute name in a module's source (field names, r.reporterCode)."""
    tree = ast.parse(path.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return strings | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_cleaning_fields_hold_every_v1_field_the_cleaning_names() -> None:
    """Every module of reeflow.clean, not only declarations.py: a field read anywhere in the cleaning
    but left out of CLEANING_FIELDS would be silently missing (all-NaN) there."""
    modules = sorted(Path(declarations.__file__).parent.glob("*.py"))
    assert Path(declarations.__file__) in modules
    named = set().union(*(_names_in(path) for path in modules)) & set(V1_FIELDS)
    assert named <= set(CLEANING_FIELDS), sorted(named - set(CLEANING_FIELDS))
    assert set(ESSENTIAL_FIELDS) <= set(CLEANING_FIELDS) <= set(V1_FIELDS)
    assert len(set(CLEANING_FIELDS)) == len(CLEANING_FIELDS)


def _raw_year(path: Path) -> Path:
    """An API answer (all 47 fields, some flags missing) beside CSV-like file records that lack fields."""
    api = [synthetic_record(reporter=842, partner=p, flow=f) for p in (0, 156, 392) for f in ("M", "X")]
    api[1]["isNetWgtEstimated"] = None  # a flag column with a gap: object, not bool
    api.append(synthetic_record(reporter=842, partner=156, cmd="870380", qtyUnitCode=5, qtyUnitAbbr="u",
                                netWgt=None, qty=12.0))  # fmt: skip
    files = []
    for partner in (0, 842, 899):
        record = synthetic_record(reporter=156, partner=partner, flow="X", isOriginalClassification="True")
        for field in ("motCode", "qtyUnitAbbr", "altQty", "altQtyUnitCode", "isQtyEstimated", "reporterISO"):
            del record[field]
        files.append(record)
    write_json_atomic(path, {"source": "api", "year": 2021, "scope": {}, "responses": [
        {"kind": "api", "body": envelope(api)}, {"kind": "api", "body": envelope([])},
        {"kind": "file", "records": files},
    ]})  # fmt: skip
    return path


def test_cleaning_fields_give_the_records_and_tables_of_all_fields(tmp_path: Path) -> None:
    path = _raw_year(tmp_path / "2021.json")
    every = comtrade_records(path)
    some = comtrade_records(path, CLEANING_FIELDS)
    assert list(some.columns) == [f for f in CLEANING_FIELDS if f in every.columns] + ["response_index"]
    pd.testing.assert_frame_equal(some, every[some.columns])
    for got, want in zip(reported_from_records(some, COMMODITIES, "w", 2021),
                         reported_from_records(every, COMMODITIES, "w", 2021), strict=True):  # fmt: skip
        pd.testing.assert_frame_equal(got, want)


def test_a_field_no_record_has_stays_absent(tmp_path: Path) -> None:
    records = [{k: v for k, v in synthetic_record(partner=p).items() if k != "motCode"} for p in (0, 842)]
    path = tmp_path / "2021.json"
    write_json_atomic(path, {"year": 2021, "responses": [{"kind": "file", "records": records}]})
    assert "motCode" not in comtrade_records(path, CLEANING_FIELDS).columns
    empty = tmp_path / "2022.json"
    write_json_atomic(empty, {"year": 2022, "responses": []})
    assert list(comtrade_records(empty, CLEANING_FIELDS).columns) == [*CLEANING_FIELDS, "response_index"]


def test_records_without_any_cleaning_field_still_fail_the_essential_check(tmp_path: Path) -> None:
    path = tmp_path / "2021.json"
    write_json_atomic(path, {"year": 2021, "responses": [{"kind": "file", "records": [{"cmdDesc": "x"}]}]})
    with pytest.raises(ReeflowError, match="missing Comtrade v1 column"):
        comtrade_records(path, CLEANING_FIELDS)
    with pytest.raises(ReeflowError, match="missing Comtrade v1 column"):
        comtrade_records(path)
