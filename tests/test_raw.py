"""reeflow.acquire.raw: Comtrade envelopes, local exports and raw year files back into one table of records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from comtrade_server import envelope, synthetic_record
from reeflow.acquire.raw import (
    ESSENTIAL_FIELDS,
    V1_FIELDS,
    comtrade_records,
    parse_envelope,
    read_comtrade_csv,
    read_comtrade_file,
)
from reeflow.io import ReeflowError, write_json_atomic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty answer"),
        ("   \n", "empty answer"),
        ("<!DOCTYPE html><html></html>", "HTML page"),
        ('{"data": [', "malformed JSON"),
        ("[1, 2]", "JSON list where a Comtrade envelope"),
        ('{"count": 0}', "without the 'data' list"),
        ('{"error": "Request limit exceeded"}', "answered with an error: Request limit exceeded"),
        ('{"data": [], "error": "bad period"}', "bad period"),
        ('{"data": {"a": 1}, "error": ""}', "field 'data' is dict"),
    ],
)
def test_parse_envelope_rejects_what_is_not_data(text: str, message: str) -> None:
    with pytest.raises(ReeflowError, match=message) as info:
        parse_envelope(text, "WHERE")
    assert str(info.value).startswith("WHERE:")


def test_parse_envelope_accepts_empty_and_null_data() -> None:
    assert parse_envelope('{"count": 0, "data": [], "error": ""}', "w") == []
    assert parse_envelope('{"count": 0, "data": null, "error": null}', "w") == []


@given(
    st.lists(st.tuples(st.integers(1, 899), st.sampled_from(["M", "X"]), st.integers(0, 899)), max_size=20)
)
def test_parse_envelope_round_trips_records(keys: list[tuple[int, str, int]]) -> None:
    records = [synthetic_record(reporter=r, flow=f, partner=p) for r, f, p in keys]
    assert parse_envelope(envelope(records), "w") == records


def test_real_csv_export_reads_with_string_codes(real_data: Path) -> None:
    path = real_data / "comtrade" / "usa-china-2020-2024" / "usa-china-2846-280530.csv"
    frame = read_comtrade_csv(path)
    assert len(frame) == sum(1 for _ in path.open()) - 1
    assert set(frame["cmdCode"]) == {"2846", "280530"}  # not 2846.0, not int
    assert set(V1_FIELDS) <= set(frame.columns) and "query_year" in frame.columns
    assert frame["reporterISO"].isna().all()  # empty ISO columns are allowed


def test_real_json_export_reads_every_record(real_data: Path) -> None:
    path = real_data / "comtrade" / "china-imports-2846" / "2015.json"
    frame = read_comtrade_file(path)
    assert len(frame) == json.loads(path.read_text())["count"]
    assert list(frame.columns) == list(V1_FIELDS)


def test_export_without_essential_columns_names_them(tmp_path: Path) -> None:
    path = tmp_path / "synthetic-export.csv"
    frame = pd.DataFrame([synthetic_record()]).drop(columns=["netWgt", "qty"])
    frame.to_csv(path, index=False)
    with pytest.raises(ReeflowError, match=r"synthetic-export\.csv.*\['qty', 'netWgt'\]"):
        read_comtrade_file(path)
    with pytest.raises(ReeflowError, match=r"unknown Comtrade file type '\.xlsx'"):
        read_comtrade_file(tmp_path / "export.xlsx")


def test_comtrade_records_joins_api_bodies_and_file_records(tmp_path: Path) -> None:
    api_records = [synthetic_record(reporter=842, partner=p) for p in range(3)]
    file_records = [synthetic_record(reporter=156, cmd="280530", partner=p) for p in range(2)]
    path = tmp_path / "2021.json"
    write_json_atomic(
        path,
        {
            "source": "api",
            "year": 2021,
            "scope": {},
            "responses": [
                {"kind": "api", "body": envelope(api_records)},
                {"kind": "api", "body": envelope([])},
                {"kind": "file", "records": file_records},
            ],
        },
    )
    frame = comtrade_records(path)
    assert len(frame) == 5
    assert frame.groupby("response_index").size().to_dict() == {0: 3, 2: 2}
    assert set(frame["cmdCode"]) == {"2846", "280530"}


def test_comtrade_records_of_an_empty_year_has_the_v1_columns(tmp_path: Path) -> None:
    path = tmp_path / "2021.json"
    write_json_atomic(path, {"source": "files", "year": 2021, "scope": {}, "responses": []})
    frame = comtrade_records(path)
    assert frame.empty and set(ESSENTIAL_FIELDS) <= set(frame.columns) and "response_index" in frame.columns


def test_comtrade_records_names_the_bad_response(tmp_path: Path) -> None:
    path = tmp_path / "2021.json"
    write_json_atomic(path, {"responses": [{"body": envelope([])}, {"body": "<html>"}]})
    with pytest.raises(ReeflowError, match=r"2021\.json response 1: an HTML page"):
        comtrade_records(path)


def test_raw_year_is_parsed_once_but_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    import os

    from reeflow.acquire.raw import load_raw_year

    path = tmp_path / "2020.json"  # SYNTHETIC raw year file
    path.write_text(json.dumps({"year": 2020, "responses": []}))
    first = load_raw_year(path)
    assert load_raw_year(path) is first
    path.write_text(json.dumps({"year": 2021, "responses": [], "note": "revised"}))
    later = os.stat(path).st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    assert load_raw_year(path)["year"] == 2021
