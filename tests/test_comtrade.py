"""Comtrade acquisition against a local stand-in server (SYNTHETIC answers) and the real recorded ones."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snakemake.utils import validate

from comtrade_server import (
    Answer,
    ComtradeServer,
    Recorded,
    envelope,
    filtering_handler,
    free_port,
    real_year_handler,
    record_key,
    synthetic_record,
)
from comtrade_server import comtrade_server as comtrade_server  # noqa: F401 (fixture)
from reeflow.acquire.comtrade import (
    KEY_HEADER,
    ComtradeClient,
    Query,
    comtrade_code_from_iso3,
    download_comtrade_year,
    download_query,
    read_local_year,
    records_as_json,
    reporter_codes,
    select_records,
    split_query,
)
from reeflow.acquire.raw import comtrade_records
from reeflow.countries import iso3_from_comtrade
from reeflow.http import HttpError
from reeflow.io import ReeflowError, sha256_file
from reeflow.settings import ComtradeScope

SECRET = "FAKE-KEY-7f3c9a-do-not-leak"
CODES = ["280530", "2846"]


def api_scope(base_url: str, **overrides: Any) -> ComtradeScope:
    """params.scope as comtrade_scope() builds it, with fast retry settings, as the rule script reads it."""
    scope = {
        "source": "api", "base_url": base_url, "keyed": False, "reporters": ["USA", "CHN"],
        "flows": ["M", "X"], "cmd_codes": CODES, "max_records": 500, "max_tries": 3,
        "backoff_seconds": 0.0, "max_backoff_seconds": 0.0, "timeout_seconds": 5, "pause_seconds": 0.25,
        "allow_missing_years": False, "max_answer_mb": 64,
    }  # fmt: skip
    scope.update(overrides)
    return ComtradeScope.from_mapping(scope)


def pool_for(
    year: int, reporters: list[int], flows: list[str], codes: list[str], partners: int
) -> list[dict]:
    return [
        synthetic_record(year, r, f, c, partner=p)
        for r in reporters for f in flows for c in codes for p in range(partners)
    ]  # fmt: skip


def strict_json(path: Path) -> Any:
    """Parse as strict JSON: NaN/Infinity (which json.dumps writes by default) are rejected."""

    def reject(constant: str) -> None:
        raise AssertionError(f"{path} holds the non-JSON constant {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    ("iso3", "code"),
    [
        ("USA", 842),
        ("CHN", 156),
        ("FRA", 251),
        ("DEU", 276),
        ("IND", 699),
        ("CHE", 757),
        ("JPN", 392),
        ("TWN", 490),
    ],
)
def test_iso3_to_comtrade_code_uses_comtrade_own_codes(iso3: str, code: int) -> None:
    assert comtrade_code_from_iso3(iso3) == code
    assert iso3_from_comtrade(code) == (iso3, True)


def test_unknown_reporter_names_the_config_key() -> None:
    with pytest.raises(ReeflowError, match=r"comtrade\.reporters.*'XYZ'"):
        reporter_codes(["USA", "XYZ"])
    with pytest.raises(ReeflowError, match="comtrade.reporters"):
        reporter_codes("some")


def test_all_reporters_omit_the_parameter() -> None:
    assert reporter_codes("all") is None
    params = Query(2021, None, ("M",), ("2846",)).params(500)
    assert "reporterCode" not in params and "partnerCode" not in params
    assert reporter_codes(["USA", "CHN", "USA"]) == [156, 842]


def test_query_parameters_match_the_recorded_real_request() -> None:
    params = Query(2022, (156,), ("M",), ("2846",)).params(500)
    assert params == {
        "period": "2022", "reporterCode": "156", "cmdCode": "2846", "flowCode": "M", "partner2Code": "0",
        "customsCode": "C00", "motCode": "0", "maxRecords": "500", "format": "JSON",
        "breakdownMode": "classic", "includeDesc": "true",
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------- splitting

queries = st.builds(
    Query,
    year=st.just(2021),
    reporters=st.one_of(
        st.none(), st.lists(st.integers(1, 999), min_size=1, max_size=6, unique=True).map(tuple)
    ),
    flows=st.lists(st.sampled_from(["M", "X", "RM", "RX"]), min_size=1, max_size=4, unique=True).map(tuple),
    cmd_codes=st.lists(st.sampled_from(CODES + ["850511", "2805"]), min_size=1, max_size=4, unique=True).map(
        tuple
    ),
)


@given(queries)
def test_split_halves_partition_the_query_reporters_first(query: Query) -> None:
    names = ("reporters", "flows", "cmd_codes")
    splittable = [n for n in names if getattr(query, n) is not None and len(getattr(query, n)) > 1]
    halves = split_query(query)
    if not splittable:
        assert halves is None
        return
    assert halves is not None
    first, second = halves
    name = splittable[0]  # reporters, else flows, else codes
    assert getattr(first, name) and getattr(second, name)
    assert getattr(first, name) + getattr(second, name) == getattr(query, name)
    for other in names:
        if other != name:
            assert getattr(first, other) == getattr(second, other) == getattr(query, other)


class FakeClient:
    """In-process Comtrade (no HTTP) for fast property tests of the splitting logic."""

    def __init__(self, pool: list[dict], max_records: int) -> None:
        self.pool, self.max_records, self.calls = pool, max_records, 0

    def get(self, params: dict[str, str]) -> tuple[dict[str, Any], list[dict]]:
        self.calls += 1
        answer = filtering_handler(self.pool)(Recorded("/", dict(params), {}))
        records = json.loads(answer.body)["data"]
        return {"count": len(records), "records": records}, records


@settings(max_examples=60, deadline=None)
@given(
    reporters=st.lists(st.integers(1, 899), min_size=1, max_size=5, unique=True),
    flows=st.lists(st.sampled_from(["M", "X", "RM", "RX"]), min_size=1, max_size=4, unique=True),
    codes=st.lists(st.sampled_from(CODES + ["850511"]), min_size=1, max_size=3, unique=True),
    partners=st.integers(0, 6),
    cap=st.integers(7, 40),
)
def test_split_downloads_return_exactly_the_pool(reporters, flows, codes, partners, cap) -> None:
    pool = pool_for(2021, reporters, flows, codes, partners)
    client = FakeClient(pool, cap)
    query = Query(2021, tuple(sorted(reporters)), tuple(flows), tuple(sorted(codes)))
    responses = download_query(client, query)  # type: ignore[arg-type]
    got = [record_key(r) for resp in responses for r in resp["records"]]
    assert sorted(got) == sorted(record_key(r) for r in pool)  # complete, no duplicates
    assert all(resp["count"] < cap for resp in responses)  # no truncated answer kept


# ---------------------------------------------------------------------------------------------- API paths


def test_keyed_request_sends_the_key_as_a_header_to_the_data_endpoint(comtrade_server, tmp_path) -> None:
    comtrade_server.handler = filtering_handler(pool_for(2021, [842, 156], ["M", "X"], CODES, 3))
    out = tmp_path / "2021.json"
    scope = api_scope(comtrade_server.base_url, keyed=True, reporters="all", max_records=250000)
    download_comtrade_year(out, 2021, scope, api_key=SECRET, sleep=lambda s: None)
    [request] = comtrade_server.requests
    assert request.path == "/data/v1/get/C/A/HS"
    assert request.headers.get(KEY_HEADER) == SECRET
    assert "reporterCode" not in request.query and SECRET not in json.dumps(request.query)
    raw = strict_json(out)
    assert raw["source"] == "api" and raw["year"] == 2021 and raw["scope"]["reporters"] == "all"
    [response] = raw["responses"]
    assert response["endpoint"] == "data" and response["count"] == 2 * 2 * 2 * 3
    assert response["url"].startswith(comtrade_server.base_url + "/data/v1/get/C/A/HS?period=2021")
    assert SECRET not in out.read_text()


def test_keyless_request_uses_the_preview_and_the_configured_reporters(
    comtrade_server, tmp_path, caplog
) -> None:
    pool = pool_for(2021, [842, 156, 392], ["M"], CODES, 2)
    comtrade_server.handler = filtering_handler(pool)
    out = tmp_path / "2021.json"
    with caplog.at_level(logging.INFO):
        download_comtrade_year(
            out, 2021, api_scope(comtrade_server.base_url, flows=["M"]), sleep=lambda s: None
        )
    [request] = comtrade_server.requests
    assert request.path == "/public/v1/preview/C/A/HS"
    assert KEY_HEADER not in request.headers
    assert request.query["reporterCode"] == "156,842" and request.query["maxRecords"] == "500"
    assert request.query["flowCode"] == "M" and request.query["cmdCode"] == "280530,2846"
    assert "key gives the global network" in caplog.text
    assert {r["reporterCode"] for r in comtrade_records(out).to_dict("records")} == {842, 156}


def test_stored_body_is_verbatim_with_its_hash(comtrade_server, tmp_path) -> None:
    body = envelope([synthetic_record()]).replace(", ", ",  ")  # odd spacing must survive
    comtrade_server.queue(Answer(body=body))
    out = tmp_path / "2021.json"
    download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url), sleep=lambda s: None)
    [response] = json.loads(out.read_text())["responses"]
    assert response["body"] == body and response["sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert response["status"] == 200 and response["retrieved_at"].endswith("Z")
    assert response["params"]["period"] == "2021"


def test_truncated_answers_are_split_until_complete(comtrade_server, tmp_path) -> None:
    pool = pool_for(2021, [842, 156], ["M", "X"], CODES, 5)  # 40 records, 5 per cell
    comtrade_server.handler = filtering_handler(pool)
    out = tmp_path / "2021.json"
    pauses: list[float] = []
    download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url, max_records=8), sleep=pauses.append)
    records = comtrade_records(out)
    got = sorted(record_key(r) for r in records.to_dict("records"))
    assert got == sorted(record_key(r) for r in pool)
    raw = json.loads(out.read_text())
    assert all(r["count"] < 8 for r in raw["responses"])
    assert len(comtrade_server.requests) > len(raw["responses"])  # truncated answers were dropped
    # reporters split before flows, flows before codes
    second = comtrade_server.requests[1].query
    assert second["reporterCode"] == "156" and second["flowCode"] == "M,X"
    halves = {r.query["reporterCode"] for r in comtrade_server.requests if r.query["flowCode"] == "M,X"}
    assert halves == {"156,842", "156", "842"}
    assert pauses == [0.25] * (len(comtrade_server.requests) - 1)  # courtesy pause between calls only


def test_all_reporters_split_flows_then_codes(comtrade_server, tmp_path) -> None:
    pool = pool_for(2021, [842, 156, 392], ["M", "X"], CODES, 1)  # 12 records, 3 per flow x code
    comtrade_server.handler = filtering_handler(pool)
    out = tmp_path / "2021.json"
    scope = api_scope(comtrade_server.base_url, keyed=True, reporters="all", max_records=5)
    download_comtrade_year(out, 2021, scope, api_key=SECRET, sleep=lambda s: None)
    assert all("reporterCode" not in r.query for r in comtrade_server.requests)
    assert len(comtrade_records(out)) == len(pool)
    second = comtrade_server.requests[1].query
    assert second["flowCode"] == "M" and second["cmdCode"] == "280530,2846"
    assert {r.query["flowCode"] for r in comtrade_server.requests} == {"M,X", "M", "X"}


def test_a_single_cell_still_truncated_is_an_error(comtrade_server, tmp_path) -> None:
    comtrade_server.handler = filtering_handler(pool_for(2021, [842], ["M"], ["2846"], 10))
    out = tmp_path / "2021.json"
    scope = api_scope(
        comtrade_server.base_url, reporters=["USA"], flows=["M"], cmd_codes=["2846"], max_records=10
    )
    with pytest.raises(ReeflowError, match=r"truncated at maxRecords=10.*cannot be split"):
        download_comtrade_year(out, 2021, scope, sleep=lambda s: None)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("first", "expected_sleep"),
    [
        (Answer(status=429, body="", headers={"Retry-After": "7"}), 7.0),
        (
            Answer(
                status=429,
                body='{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 3 seconds."}',
            ),
            3.0,
        ),
        (Answer(status=500, body="internal error"), 0.0),
        (Answer(drop=True), 0.0),
    ],
    ids=["429-retry-after", "429-try-again-text", "500", "dropped-connection"],
)
def test_transient_failure_then_success(
    comtrade_server, tmp_path, first: Answer, expected_sleep: float
) -> None:
    comtrade_server.queue(first, Answer(body=envelope([synthetic_record()])))
    out = tmp_path / "2021.json"
    sleeps: list[float] = []
    scope = api_scope(comtrade_server.base_url, max_backoff_seconds=60.0)
    download_comtrade_year(out, 2021, scope, sleep=sleeps.append)
    assert len(comtrade_server.requests) == 2
    assert sleeps == [expected_sleep]
    assert len(comtrade_records(out)) == 1


def test_persistent_5xx_gives_up_after_max_tries(comtrade_server, tmp_path) -> None:
    comtrade_server.queue(*[Answer(status=503, body="busy")] * 3)
    out = tmp_path / "2021.json"
    with pytest.raises(HttpError, match=r"gave up after 3 tries.*503"):
        download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url), sleep=lambda s: None)
    assert len(comtrade_server.requests) == 3 and not out.exists()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            Answer(body="<html><body>Down for maintenance</body></html>", content_type="text/html"),
            "HTML page",
        ),
        (Answer(body='{"count": 1, "data": [{"refYear": 2021'), "malformed JSON"),
        (Answer(body=json.dumps({"count": 0, "data": None, "error": "Invalid cmdCode"})), "Invalid cmdCode"),
        (Answer(body=json.dumps({"elapsedTime": "0.1 secs", "count": 0})), "without the 'data' list"),
        (Answer(body=""), "empty answer"),
        (Answer(body=b"\xff\xfe{}"), "not UTF-8"),
    ],
    ids=["html", "malformed", "error-set", "data-missing", "empty", "not-utf8"],
)
def test_a_200_that_is_not_an_envelope_is_an_error_naming_the_request(
    comtrade_server, tmp_path, answer: Answer, message: str
) -> None:
    comtrade_server.queue(answer)
    out = tmp_path / "2021.json"
    with pytest.raises(ReeflowError, match=message) as info:
        download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url), sleep=lambda s: None)
    assert "/public/v1/preview/C/A/HS?period=2021" in str(info.value)
    assert not out.exists()


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorised_says_the_key_is_the_problem_without_showing_it(
    comtrade_server, tmp_path, status
) -> None:
    comtrade_server.queue(Answer(status=status, body=f'{{"message": "Access denied for key {SECRET}"}}'))
    out = tmp_path / "2021.json"
    scope = api_scope(comtrade_server.base_url, keyed=True)
    with pytest.raises(ReeflowError, match="key is missing, wrong or over its quota") as info:
        download_comtrade_year(out, 2021, scope, api_key=SECRET, sleep=lambda s: None)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is not None
    assert SECRET not in str(info.value.__context__)
    assert len(comtrade_server.requests) == 1  # not retried


def test_connection_refused_gives_up_with_the_url(tmp_path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "2021.json"
    sleeps: list[float] = []
    with pytest.raises(HttpError, match=r"127\.0\.0\.1.*gave up after 3 tries.*Connection") as info:
        download_comtrade_year(out, 2021, api_scope(base, keyed=True), api_key=SECRET, sleep=sleeps.append)
    assert info.value.status is None and SECRET not in str(info.value)
    assert len(sleeps) == 2 and not out.exists()


def test_interrupted_download_leaves_no_partial_file(comtrade_server, tmp_path) -> None:
    pool = pool_for(2021, [842, 156], ["M", "X"], CODES, 5)
    handle = filtering_handler(pool)
    answers = iter([True, True, True, False])

    def flaky(request):  # the fourth call dies mid-download
        return handle(request) if next(answers, False) else Answer(body="<html>gateway</html>")

    comtrade_server.handler = flaky
    out = tmp_path / "raw" / "2021.json"
    with pytest.raises(ReeflowError, match="HTML"):
        download_comtrade_year(
            out, 2021, api_scope(comtrade_server.base_url, max_records=8), sleep=lambda s: None
        )
    assert len(comtrade_server.requests) == 4
    assert not out.exists() and files_under(tmp_path) == []


def test_interrupt_by_exception_mid_way_leaves_no_partial_file(comtrade_server, tmp_path) -> None:
    comtrade_server.handler = filtering_handler(pool_for(2021, [842, 156], ["M"], CODES, 5))
    calls = []

    def interrupt(seconds: float) -> None:  # the courtesy pause before the third call is interrupted
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "raw" / "2021.json"
    with pytest.raises(KeyboardInterrupt):
        download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url, max_records=8), sleep=interrupt)
    assert not out.exists() and files_under(tmp_path) == []


def test_the_key_is_in_no_stored_file_message_or_log(comtrade_server, tmp_path, caplog) -> None:
    comtrade_server.handler = filtering_handler(pool_for(2021, [842, 156], ["M", "X"], CODES, 3))
    comtrade_server.queue(Answer(status=429, body=f"slow down {SECRET}. Try again in 1 seconds"))
    out = tmp_path / "ok" / "2021.json"
    scope = api_scope(comtrade_server.base_url, keyed=True, max_records=10)
    with caplog.at_level(logging.DEBUG):
        download_comtrade_year(out, 2021, scope, api_key=SECRET, sleep=lambda s: None)
        comtrade_server.handler = lambda request: Answer(status=502, body=f"upstream said {SECRET}")
        with pytest.raises(HttpError) as info:
            download_comtrade_year(
                tmp_path / "bad" / "2021.json", 2021, scope, api_key=SECRET, sleep=lambda s: None
            )
    assert comtrade_server.requests[0].headers[KEY_HEADER] == SECRET  # it was sent...
    assert SECRET not in str(info.value) and "***" in str(info.value)  # ...but never shown
    assert SECRET not in caplog.text and "slow down ***" in caplog.text
    assert all(SECRET not in p.read_text() for p in files_under(tmp_path))
    client = ComtradeClient(base_url="https://x", max_records=1, api_key=SECRET)
    assert SECRET not in repr(client)


def test_an_answer_echoing_the_key_is_not_stored(comtrade_server, tmp_path) -> None:
    comtrade_server.queue(Answer(body=envelope([synthetic_record(cmdDesc=SECRET)])))
    out = tmp_path / "2021.json"
    with pytest.raises(ReeflowError, match="echoes the subscription key") as info:
        download_comtrade_year(
            out, 2021, api_scope(comtrade_server.base_url, keyed=True), api_key=SECRET, sleep=lambda s: None
        )
    assert SECRET not in str(info.value) and not out.exists()


def test_key_set_or_unset_after_planning_is_an_error(tmp_path) -> None:
    with pytest.raises(ReeflowError, match="COMTRADE_API_KEY is set now"):
        download_comtrade_year(tmp_path / "y.json", 2021, api_scope("http://127.0.0.1:9"), api_key=SECRET)
    with pytest.raises(ReeflowError, match="COMTRADE_API_KEY is unset now"):
        download_comtrade_year(tmp_path / "y.json", 2021, api_scope("http://127.0.0.1:9", keyed=True))
    with pytest.raises(ReeflowError, match="comtrade.source 'baci'"):
        download_comtrade_year(tmp_path / "y.json", 2021, api_scope("http://127.0.0.1:9", source="baci"))


# ---------------------------------------------------------------------------------------------- real answers


@pytest.mark.parametrize("year", [1993, 2000, 2010, 2021, 2022])
def test_real_recorded_answers_round_trip(real_data: Path, tmp_path, year: int) -> None:
    real_file = real_data / "comtrade" / "china-imports-2846" / f"{year}.json"
    expected = json.loads(real_file.read_text())
    manifest = json.loads((real_file.parent / "manifest.json").read_text())
    with ComtradeServer(real_year_handler(real_data)) as server:
        out = tmp_path / f"{year}.json"
        scope = api_scope(server.base_url, reporters=["CHN"], flows=["M"], cmd_codes=["2846"])
        download_comtrade_year(out, year, scope, sleep=lambda s: None)
        [request] = server.requests
    assert request.query["reporterCode"] == "156" and request.query["period"] == str(year)
    records = comtrade_records(out)
    assert len(records) == expected["count"] == len(expected["data"])
    [response] = json.loads(out.read_text())["responses"]
    assert response["sha256"] == sha256_file(real_file)
    recorded_hashes = json.dumps(manifest)
    assert response["sha256"] in recorded_hashes  # the same bytes the original download saw
    assert set(records["reporterCode"]) == {156} and set(records["flowCode"]) == {"M"}
    assert records["primaryValue"].sum() == pytest.approx(sum(r["primaryValue"] for r in expected["data"]))


# ---------------------------------------------------------------------------------------------- files source


def files_scope(**overrides: Any) -> ComtradeScope:
    scope = {
        "source": "files",
        "reporters": "all",
        "flows": ["M", "X", "RM", "RX"],
        "cmd_codes": CODES,
        "base_url": "https://comtradeapi.un.org",
        "keyed": False,
        "max_records": 500,
        "max_tries": 6,
        "backoff_seconds": 2.0,
        "max_backoff_seconds": 120.0,
        "timeout_seconds": 120,
        "pause_seconds": 1.0,
        "max_answer_mb": 1024,
        "allow_missing_years": False,
    }
    scope.update(overrides)
    return ComtradeScope.from_mapping(scope)


@pytest.mark.parametrize("year", [2000, 2021, 2024])
def test_files_source_on_the_real_china_json(real_data: Path, tmp_path, year: int) -> None:
    folder = real_data / "comtrade" / "china-imports-2846"
    files = sorted(str(p) for p in folder.glob("[12]*.json"))
    out = tmp_path / f"{year}.json"
    download_comtrade_year(out, year, files_scope(), files=files)
    raw = strict_json(out)
    [response] = raw["responses"]  # only that year's file has records of the year
    assert response["path"] == str(folder / f"{year}.json") and response["format"] == "json"
    assert response["sha256"] == sha256_file(folder / f"{year}.json")
    expected = json.loads((folder / f"{year}.json").read_text())["data"]
    assert response["count"] == len(expected) == len(comtrade_records(out))
    assert response["retrieved_at"].endswith("Z") and response["retrieved_at"][:4].isdigit()


@pytest.mark.parametrize("year", [2020, 2021, 2022, 2023, 2024])
def test_files_source_on_the_real_usa_china_csv(real_data: Path, tmp_path, year: int) -> None:
    csv = real_data / "comtrade" / "usa-china-2020-2024" / "usa-china-2846-280530.csv"
    table = pd.read_csv(csv, dtype={"cmdCode": str})
    out = tmp_path / f"{year}.json"
    download_comtrade_year(out, year, files_scope(flows=["M", "X"]), files=[str(csv)])
    raw = strict_json(out)  # NaN of the empty ISO/desc columns became null
    [response] = raw["responses"]
    expected = table[(table["refYear"] == year) & table["flowCode"].isin(["M", "X"])]
    assert response["format"] == "csv" and response["count"] == len(expected) > 0
    first = response["records"][0]
    assert first["reporterISO"] is None and first["query_year"] == year  # extra column kept
    assert isinstance(first["reporterCode"], int) and isinstance(first["isQtyEstimated"], bool)
    records = comtrade_records(out)
    assert set(records["cmdCode"]) <= {"2846", "280530"}
    assert records["primaryValue"].sum() == pytest.approx(expected["primaryValue"].sum())


def test_files_source_ignores_reporters_and_keeps_scope_codes_flows_and_headings(tmp_path) -> None:
    records = [
        synthetic_record(2021, 156, "M", "284610"),  # heading 2846 is in scope
        synthetic_record(2021, 842, "X", "2846"),
        synthetic_record(2021, 156, "RX", "2846"),  # flow out of scope
        synthetic_record(2021, 156, "M", "850511"),  # code out of scope
        synthetic_record(2020, 156, "M", "2846"),  # other year
        synthetic_record(2021, 392, "M", "280530", refYear=None),  # year from period
    ]
    path = tmp_path / "synthetic-export.json"
    path.write_text(envelope(records))
    [response] = read_local_year([path], 2021, ["2846", "280530"], ["M", "X"])
    kept = {(r["reporterCode"], r["flowCode"], r["cmdCode"]) for r in response["records"]}
    assert kept == {(156, "M", "284610"), (842, "X", "2846"), (392, "M", "280530")}
    assert response["count"] == 3


def test_missing_year_is_an_error_unless_allowed(tmp_path, caplog) -> None:
    path = tmp_path / "synthetic-2020.json"
    path.write_text(envelope([synthetic_record(2020)]))
    out = tmp_path / "out" / "2021.json"
    with pytest.raises(ReeflowError, match=r"2021.*comtrade\.files.*allow_missing_years"):
        download_comtrade_year(out, 2021, files_scope(), files=[str(path)])
    assert not out.exists()
    with caplog.at_level(logging.WARNING):
        download_comtrade_year(out, 2021, files_scope(allow_missing_years=True), files=[str(path)])
    assert json.loads(out.read_text())["responses"] == [] and "2021" in caplog.text
    assert comtrade_records(out).empty


@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
        min_size=1,
        max_size=8,
    )
)
def test_records_as_json_are_strict_json(values: list) -> None:
    frame = pd.DataFrame({"x": values, "flag": [True] * len(values), "s": ["a"] * len(values)})
    text = json.dumps(records_as_json(frame), allow_nan=False)  # raises on NaN/inf
    back = json.loads(text)
    assert len(back) == len(values) and all(r["flag"] is True for r in back)


def test_select_records_on_an_empty_file_is_empty() -> None:
    assert select_records(pd.DataFrame(), 2021, CODES, ["M"]).empty


# ------------------------------------------------------------------ the key goes only to the configured host


def test_a_keyed_request_redirected_to_another_host_fails_and_the_key_stays_home(comtrade_server, tmp_path) -> None:
    with ComtradeServer() as elsewhere:  # records whether the key header reached it
        elsewhere.handler = filtering_handler(pool_for(2021, [842, 156], ["M", "X"], CODES, 1))
        comtrade_server.handler = lambda request: Answer(
            status=302, headers={"Location": elsewhere.base_url + "/data/v1/get/C/A/HS"}
        )
        out = tmp_path / "2021.json"
        with pytest.raises(HttpError, match=r"HTTP 302 redirect to host 127\.0\.0\.1; not followed") as info:
            download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url, keyed=True), api_key=SECRET,
                                   sleep=lambda s: None)  # fmt: skip
        assert not any(KEY_HEADER in r.headers for r in elsewhere.requests) and elsewhere.requests == []
    assert comtrade_server.requests[0].headers[KEY_HEADER] == SECRET and len(comtrade_server.requests) == 1
    assert SECRET not in str(info.value) and not out.exists()


@pytest.mark.parametrize("key", ["abc\r\nX-Injected: 1", "abc\ndef", "abc def", "abc\tdef", "abc\x00def", "abcdéf"])
def test_a_key_with_control_or_blank_characters_is_refused_without_echoing_it(
    comtrade_server, tmp_path, caplog, key: str
) -> None:
    out = tmp_path / "2021.json"
    with caplog.at_level(logging.DEBUG), pytest.raises(ReeflowError, match="COMTRADE_API_KEY holds whitespace") as info:
        download_comtrade_year(out, 2021, api_scope(comtrade_server.base_url, keyed=True), api_key=key,
                               sleep=lambda s: None)  # fmt: skip
    shown = str(info.value) + repr(info.value) + caplog.text
    for form in (key, repr(key), repr(key)[1:-1], repr(key.encode())[2:-1], "abc", "def"):
        assert form not in shown
    assert comtrade_server.requests == [] and not out.exists()


@pytest.mark.parametrize("base_url", ["http://comtradeapi.un.org", "http://10.0.0.1:8080", "ftp://comtradeapi.un.org"])
def test_a_base_url_that_is_not_https_is_refused_unless_local(tmp_path, base_url: str) -> None:
    with pytest.raises(ReeflowError, match=r"config comtrade\.base_url: .*must be an https:// URL"):
        download_comtrade_year(tmp_path / "2021.json", 2021, api_scope(base_url, keyed=True), api_key=SECRET,
                               sleep=lambda s: None)  # fmt: skip
    assert not (tmp_path / "2021.json").exists()


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [("https://comtradeapi.un.org", True), ("http://127.0.0.1:8080", True), ("http://localhost:9", True),
     ("http://[::1]:9", True), ("http://comtradeapi.un.org", False), ("http://127.0.0.1.example.org", False),
     ("http://localhost.example.org/", False)],
)  # fmt: skip
def test_the_schema_accepts_http_base_urls_only_for_local_hosts(repo_root: Path, base_url: str, ok: bool) -> None:
    config = {"years": {"start": 2021, "end": 2021}, "commodities": "config/commodities.csv",
              "comtrade": {"source": "api", "base_url": base_url}, "usgs": {"source": "files"}}  # fmt: skip
    if ok:
        validate(config, str(repo_root / "workflow/schemas/config.schema.yaml"))
        assert config["comtrade"]["max_answer_mb"] == 1024  # the schema's default
    else:
        with pytest.raises(Exception, match="does not match"):
            validate(config, str(repo_root / "workflow/schemas/config.schema.yaml"))


def test_an_answer_over_max_answer_mb_stops_the_download(comtrade_server, tmp_path) -> None:
    comtrade_server.handler = filtering_handler(pool_for(2021, [842, 156], ["M", "X"], CODES, 3))
    out = tmp_path / "2021.json"
    scope = api_scope(comtrade_server.base_url, max_answer_mb=0.001)  # 1048 bytes: less than one record
    bound = r"Comtrade http://127\.0\.0\.1.*larger than 1048 bytes.*comtrade\.max_answer_mb"
    with pytest.raises(ReeflowError, match=bound):
        download_comtrade_year(out, 2021, scope, sleep=lambda s: None)
    assert len(comtrade_server.requests) == 1 and not out.exists()
