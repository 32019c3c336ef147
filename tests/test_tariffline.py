"""Comtrade tariff lines (national 8-10 digit lines): download against a local stand-in server
(SYNTHETIC answers), local files (SYNTHETIC ones and the real collector files read in place), and
their records shaped like Comtrade v1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pycountry
import pytest
import yaml
from snakemake.utils import validate

from comtrade_server import Answer, ComtradeServer, Handler, Recorded, envelope, synthetic_record
from comtrade_server import comtrade_server as comtrade_server  # noqa: F401 (fixture)
from reeflow.acquire.comtrade import KEY_HEADER, comtrade_code_from_iso3
from reeflow.acquire.tariffline import (
    TARIFFLINE_COLUMNS,
    TARIFFLINE_KEYED_PATH,
    TARIFFLINE_KEYLESS_PATH,
    comtrade_partner_code,
    download_tariffline_year,
    tariffline_records,
)
from reeflow.countries import iso3_from_comtrade
from reeflow.io import ReeflowError, sha256_file
from reeflow.settings import TarifflineScope

SECRET = "FAKE-TL-KEY-41d9e2-do-not-leak"
HS6 = ["2846", "280530"]
REAL_FOLDER = "comtrade/china-tariffline-2023-2025"
REAL_FILES = ["china_253090_tariffline.json", "china_261220_tariffline.json", "china_ree_tariffline.json"]


def api_scope(base_url: str, **overrides: Any) -> TarifflineScope:
    """params.scope as tariffline_scope() builds it for source api, with fast retry settings."""
    scope = {
        "source": "api", "base_url": base_url, "keyed": False, "reporters": ["CHN"], "hs6": HS6,
        "flows": ["M", "X"], "max_records": 500, "max_tries": 3, "backoff_seconds": 0.0,
        "max_backoff_seconds": 60.0, "timeout_seconds": 5, "pause_seconds": 0.0, "max_answer_mb": 64,
    }  # fmt: skip
    scope.update(overrides)
    return TarifflineScope.from_mapping(scope)


def files_scope(entries: list[dict[str, Any]], **overrides: Any) -> TarifflineScope:
    scope = {"source": "files", "reporters": ["CHN"], "hs6": ["253090", "261220", "2846", "280530"],
             "flows": ["M", "X"], "files": entries}  # fmt: skip
    scope.update(overrides)
    return TarifflineScope.from_mapping(scope)


def tariffline_pool(year: int, per_cell: int) -> list[dict[str, Any]]:
    """SYNTHETIC China tariff-line records: ``per_cell`` per (flow, HS parent), national 8-digit lines."""
    lines = {"2846": ["28469011", "28469091"], "280530": ["28053011", "28053019"]}
    pool = []
    for flow in ("M", "X"):
        for codes in lines.values():
            for i in range(per_cell):
                pool.append(
                    synthetic_record(year, 156, flow, codes[i % 2], partner=4 + i, classificationCode="H6",
                                     aggrLevel=8, isLeaf=True)
                )  # fmt: skip
    return pool


def prefix_handler(pool: list[dict[str, Any]]) -> Handler:
    """Answer like the tariff-line endpoints: cmdCode selects the lines that start with it."""

    def handle(request: Recorded) -> Answer:
        q = request.query
        codes = tuple(q.get("cmdCode", "").split(","))
        hits = [
            r for r in pool
            if str(r["refYear"]) == q.get("period")
            and str(r["reporterCode"]) in q.get("reporterCode", "").split(",")
            and r["flowCode"] in q.get("flowCode", "").split(",")
            and r["cmdCode"].startswith(codes)
        ]  # fmt: skip
        return Answer(body=envelope(hits[: int(q.get("maxRecords", "500"))]))

    return handle


def keys(records: pd.DataFrame) -> list[tuple]:
    return sorted(zip(records["flowCode"], records["cmdCode"], records["partnerCode"], strict=True))


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def collector(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"source": "SYNTHETIC collector file", "fetched": "2030-01-02", "rows": rows}


# ---------------------------------------------------------------------------------------------- partner codes


@pytest.mark.parametrize(
    ("iso", "comtrade", "iso3"),
    [(840, 842, "USA"), (250, 251, "FRA"), (356, 699, "IND"), (380, 381, "ITA"), (578, 579, "NOR"),
     (756, 757, "CHE"), (158, 490, "TWN"), (156, 156, "CHN"), (276, 276, "DEU")],
)  # fmt: skip
def test_iso_numeric_partner_codes_become_comtrade_codes(iso: int, comtrade: int, iso3: str) -> None:
    assert comtrade_partner_code(iso, "iso_numeric") == comtrade
    assert iso3_from_comtrade(comtrade_partner_code(iso, "iso_numeric")) == (iso3, True)
    assert comtrade_partner_code(comtrade, "comtrade") == comtrade


@pytest.mark.parametrize("code", [0, 699, 757, 842, 899, 490])
def test_codes_that_are_no_iso_country_are_kept(code: int) -> None:
    assert comtrade_partner_code(code, "iso_numeric") == code


def test_every_iso_country_keeps_its_identity() -> None:
    for country in pycountry.countries:
        code = comtrade_partner_code(int(country.numeric), "iso_numeric")
        assert iso3_from_comtrade(code)[0] == country.alpha_3, (country.alpha_3, code)


def test_unknown_partner_code_system_is_an_error() -> None:
    with pytest.raises(ReeflowError, match="partner_codes 'm49'"):
        comtrade_partner_code(840, "m49")


# ---------------------------------------------------------------------------------------------- API


def test_keyless_preview_splits_answers_at_the_500_record_cap(comtrade_server, tmp_path) -> None:
    pool = tariffline_pool(2023, per_cell=200)  # 800 records: over 500 in one call, under it per flow
    comtrade_server.handler = prefix_handler(pool)
    out = tmp_path / "2023.json"
    download_tariffline_year(out, 2023, api_scope(comtrade_server.base_url), sleep=lambda s: None)
    requests = comtrade_server.requests
    assert {r.path for r in requests} == {TARIFFLINE_KEYLESS_PATH}
    assert all(KEY_HEADER not in r.headers for r in requests)
    first = requests[0].query
    assert first["reporterCode"] == "156" and first["cmdCode"] == "280530,2846" and first["maxRecords"] == "500"
    assert first["flowCode"] == "M,X" and "breakdownMode" not in first and "aggregateBy" not in first
    assert len(requests) == 3  # truncated at 500, then one call per flow
    raw = json.loads(out.read_text())
    assert raw["kind"] == "tariffline" and raw["source"] == "api" and raw["year"] == 2023
    assert [r["count"] for r in raw["responses"]] == [400, 400]
    assert {r["endpoint"] for r in raw["responses"]} == {"previewTariffline"}
    assert all(r["partner_codes"] == "comtrade" and len(r["sha256"]) == 64 for r in raw["responses"])
    records = tariffline_records(out)
    assert keys(records) == sorted((r["flowCode"], r["cmdCode"], r["partnerCode"]) for r in pool)
    assert list(records.columns) == [*TARIFFLINE_COLUMNS, "response_index"]
    assert records["isTariffLine"].all() and (records["reporterCode"] == 156).all()
    assert set(records["classificationCode"]) == {"H6"} and set(records["customsCode"]) == {"C00"}


def test_keyed_endpoint_has_the_key_only_in_the_header(comtrade_server, tmp_path, caplog) -> None:
    comtrade_server.handler = prefix_handler(tariffline_pool(2023, per_cell=3))
    comtrade_server.queue(Answer(status=429, body=f"slow down {SECRET}. Try again in 0 seconds"))
    out = tmp_path / "2023.json"
    scope = api_scope(comtrade_server.base_url, keyed=True, max_records=250000)
    with caplog.at_level(logging.DEBUG):
        download_tariffline_year(out, 2023, scope, api_key=SECRET, sleep=lambda s: None)
    assert {r.path for r in comtrade_server.requests} == {TARIFFLINE_KEYED_PATH}
    assert all(r.headers.get(KEY_HEADER) == SECRET for r in comtrade_server.requests)
    assert all(SECRET not in json.dumps(r.query) for r in comtrade_server.requests)
    text = out.read_text()
    assert SECRET not in text and SECRET not in caplog.text and "slow down ***" in caplog.text
    [response] = json.loads(text)["responses"]
    assert response["endpoint"] == "getTariffline" and response["count"] == 12
    assert response["url"].startswith(comtrade_server.base_url + TARIFFLINE_KEYED_PATH + "?period=2023")


def test_a_key_set_after_planning_is_an_error(tmp_path) -> None:
    with pytest.raises(ReeflowError, match="COMTRADE_API_KEY is set now"):
        download_tariffline_year(tmp_path / "2023.json", 2023, api_scope("http://127.0.0.1:9"), api_key=SECRET)


def test_429_then_success_honours_retry_after(comtrade_server, tmp_path) -> None:
    comtrade_server.queue(
        Answer(status=429, body="", headers={"Retry-After": "2"}),
        Answer(body=envelope(tariffline_pool(2023, per_cell=1))),
    )
    out = tmp_path / "2023.json"
    sleeps: list[float] = []
    download_tariffline_year(out, 2023, api_scope(comtrade_server.base_url), sleep=sleeps.append)
    assert len(comtrade_server.requests) == 2 and sleeps == [2.0]
    assert len(tariffline_records(out)) == 4


def test_a_failed_download_leaves_no_file(comtrade_server, tmp_path) -> None:
    comtrade_server.queue(*[Answer(status=503, body="busy")] * 3)
    out = tmp_path / "2023.json"
    with pytest.raises(Exception, match="503"):
        download_tariffline_year(out, 2023, api_scope(comtrade_server.base_url), sleep=lambda s: None)
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- local files


@pytest.mark.parametrize(("declared", "given", "expected"), [("iso_numeric", 840, 842), ("comtrade", 842, 842)])
def test_partner_codes_as_declared_become_comtrade_codes(tmp_path, declared: str, given: int, expected: int) -> None:
    src = write_json(
        tmp_path / "lines.json",
        collector([{"period": 2023, "cmdCode": "25309020", "partnerCode": given, "netWgt": 5.0, "primaryValue": 9.0}]),
    )
    out = tmp_path / "2023.json"
    entry = {"path": str(src), "reporter": "CHN", "flow": "M", "partner_codes": declared}
    download_tariffline_year(out, 2023, files_scope([entry]))
    [record] = tariffline_records(out).to_dict("records")
    assert record["partnerCode"] == expected and iso3_from_comtrade(record["partnerCode"])[0] == "USA"
    assert record["reporterCode"] == 156 and record["flowCode"] == "M" and record["refYear"] == 2023
    assert record["cmdCode"] == "25309020" and record["classificationCode"] == "H6"
    assert record["partner2Code"] == 0 and record["motCode"] == 0 and record["customsCode"] == "C00"
    assert record["freqCode"] == "A" and record["typeCode"] == "C" and record["isTariffLine"]
    assert pd.isna(record["qty"]) and pd.isna(record["qtyUnitCode"])


def test_csv_and_envelope_files_keep_their_own_reporter_flow_and_leading_zeros(tmp_path) -> None:
    csv = tmp_path / "lines.csv"
    pd.DataFrame(
        {"refYear": [2022, 2022, 2021], "reporterCode": [842, 842, 842], "flowCode": ["X", "X", "X"],
         "cmdCode": ["0284690100", "2846901000", "2846901000"], "partnerCode": [156, 392, 156],
         "netWgt": [1.0, 2.0, 3.0], "primaryValue": [4.0, 5.0, 6.0], "qty": [1.0, 2.0, 3.0],
         "qtyUnitCode": [8, 8, 8]}
    ).to_csv(csv, index=False)  # fmt: skip
    env = write_json(tmp_path / "lines.json", json.loads(envelope([synthetic_record(2022, 156, "M", "28053011")])))
    entries = [
        {"path": str(csv), "partner_codes": "comtrade"},
        {"path": str(env), "partner_codes": "comtrade"},
    ]
    out = tmp_path / "2022.json"
    raw = download_tariffline_year(out, 2022, files_scope(entries, hs6=["0284", "2846", "280530"]))
    assert [r["format"] for r in raw["responses"]] == ["csv", "envelope"]
    records = tariffline_records(out)
    assert list(records["cmdCode"]) == ["0284690100", "2846901000", "28053011"]
    assert list(records["reporterCode"]) == [842, 842, 156] and list(records["flowCode"]) == ["X", "X", "M"]
    assert list(records["response_index"]) == [0, 0, 1]
    assert records.loc[2, "classificationCode"] == "H5"  # as the envelope says


def test_a_year_no_file_covers_is_empty_with_a_warning(tmp_path, caplog) -> None:
    src = write_json(
        tmp_path / "lines.json",
        collector([{"period": 2023, "cmdCode": "28461010", "partnerCode": 40, "netWgt": 1.0, "primaryValue": 2.0}]),
    )
    out = tmp_path / "2019.json"
    entry = {"path": str(src), "reporter": "CHN", "flow": "M", "partner_codes": "iso_numeric"}
    with caplog.at_level(logging.WARNING):
        raw = download_tariffline_year(out, 2019, files_scope([entry]))
    assert raw["responses"] == [] and "tariff lines are supplementary" in caplog.text
    records = tariffline_records(out)
    assert records.empty and list(records.columns) == [*TARIFFLINE_COLUMNS, "response_index"]


def test_real_collector_files_give_china_imports_of_us_bastnaesite(real_data: Path, tmp_path) -> None:
    entries = [
        {"path": str(real_data / REAL_FOLDER / name), "reporter": "CHN", "flow": "M", "partner_codes": "iso_numeric"}
        for name in REAL_FILES
    ]
    out = tmp_path / "2023.json"
    raw = download_tariffline_year(out, 2023, files_scope(entries))
    for response, entry in zip(raw["responses"], entries, strict=True):
        assert response["path"] == entry["path"] and response["sha256"] == sha256_file(entry["path"])
        assert response["fetched"] == "2026-10-07" and response["format"] == "collector"
        assert response["partner_codes"] == "iso_numeric" and response["reporter"] == "CHN"
    records = tariffline_records(out)
    rows_2023 = sum(
        sum(1 for r in json.loads(Path(e["path"]).read_text())["rows"] if r["period"] == 2023) for e in entries
    )
    assert len(records) == rows_2023  # several rows of one partner and line are all kept
    assert (records["refYear"] == 2023).all() and (records["reporterCode"] == 156).all()
    assert set(records["flowCode"]) == {"M"} and records["cmdCode"].str.fullmatch(r"\d{8}").all()
    assert 840 not in set(records["partnerCode"])
    us = records[(records["cmdCode"] == "25309020") & (records["partnerCode"] == 842)]
    assert not us.empty and (us["netWgt"] > 0).all() and us["netWgt"].sum() > 1e6  # Mountain Pass: kt a year
    assert records.duplicated(["partnerCode", "cmdCode"]).any()


# ---------------------------------------------------------------------------------------------- malformed


GOOD_ROW = {"period": 2023, "cmdCode": "28461010", "partnerCode": 40, "netWgt": 1.0, "primaryValue": 2.0}


@pytest.mark.parametrize(
    ("content", "entry", "fragment"),
    [
        ("{not json", {}, "malformed JSON"),
        ("[1, 2]", {}, "neither a tariff-line collector file"),
        (json.dumps({"rows": {"a": 1}}), {}, "field 'rows' must be a list"),
        (json.dumps(collector([{k: v for k, v in GOOD_ROW.items() if k != "partnerCode"}])), {},
         "missing field 'partnerCode'"),
        (json.dumps(collector([{k: v for k, v in GOOD_ROW.items() if k != "period"}])), {},
         "missing field 'refYear'"),
        (json.dumps(collector([{**GOOD_ROW, "netWgt": -5.0}])), {}, "field 'netWgt' is negative"),
        (json.dumps(collector([{**GOOD_ROW, "qty": -1.0}])), {}, "field 'qty' is negative"),
        (json.dumps(collector([{**GOOD_ROW, "cmdCode": "2846.10"}])), {}, "field 'cmdCode'"),
        (json.dumps(collector([{**GOOD_ROW, "partnerCode": "USA"}])), {}, "field 'partnerCode'"),
        (json.dumps(collector([{**GOOD_ROW, "primaryValue": "lots"}])), {}, "field 'primaryValue'"),
        (json.dumps(collector([GOOD_ROW])), {"partner_codes": "m49"}, "field 'partner_codes'"),
        (json.dumps(collector([GOOD_ROW])), {"reporter": None}, "field 'reporterCode' is missing"),
        (json.dumps(collector([GOOD_ROW])), {"flow": None}, "field 'flowCode' is missing"),
        (envelope([], error="quota exceeded"), {}, "Comtrade answered with an error"),
    ],
    ids=["not-json", "a-list", "rows-not-list", "no-partner", "no-year", "negative-weight", "negative-qty",
         "bad-code", "partner-not-numeric", "value-not-numeric", "unknown-partner-codes", "no-reporter",
         "no-flow", "envelope-error"],
)  # fmt: skip
def test_malformed_files_name_the_file_and_the_field(tmp_path, content: str, entry: dict, fragment: str) -> None:
    src = tmp_path / "bad.json"
    src.write_text(content, encoding="utf-8")
    full = {"path": str(src), "reporter": "CHN", "flow": "M", "partner_codes": "iso_numeric", **entry}
    out = tmp_path / "2023.json"
    with pytest.raises(ReeflowError, match=fragment) as info:
        download_tariffline_year(out, 2023, files_scope([full]))
    assert str(src) in str(info.value)
    assert not out.exists()


def test_malformed_raw_files_name_the_file_and_the_field(tmp_path) -> None:
    not_tariffline = write_json(tmp_path / "comtrade.json", {"source": "api", "year": 2023, "responses": []})
    with pytest.raises(ReeflowError, match="not a raw tariff-line year file") as info:
        tariffline_records(not_tariffline)
    assert str(not_tariffline) in str(info.value)
    no_system = write_json(
        tmp_path / "no-system.json",
        {"kind": "tariffline", "year": 2023, "responses": [{"kind": "file", "path": "x.json", "records": [GOOD_ROW]}]},
    )
    with pytest.raises(ReeflowError, match=r"response 0 \(x.json\): missing field 'partner_codes'"):
        tariffline_records(no_system)
    negative = write_json(
        tmp_path / "negative.json",
        {"kind": "tariffline", "year": 2023, "responses": [
            {"kind": "file", "path": "y.json", "partner_codes": "iso_numeric", "reporter": "CHN", "flow": "M",
             "records": [{**GOOD_ROW, "primaryValue": -1}]}]},
    )  # fmt: skip
    with pytest.raises(ReeflowError, match=r"negative.json response 0 \(y.json\): field 'primaryValue' is negative"):
        tariffline_records(negative)


def test_unknown_source_and_reporter_are_config_errors(tmp_path) -> None:
    with pytest.raises(ReeflowError, match="comtrade.tariffline.source 'ftp'"):
        download_tariffline_year(tmp_path / "2023.json", 2023, files_scope([], source="ftp"))
    with pytest.raises(ReeflowError, match="comtrade.tariffline.reporters: 'XXX'"):
        download_tariffline_year(
            tmp_path / "2023.json", 2023, api_scope("http://127.0.0.1:9", reporters=["XXX"]), sleep=lambda s: None
        )


# ---------------------------------------------------------------------------------------------- config and rule


def test_schema_fills_tariffline_defaults_and_checks_files(repo_root: Path) -> None:
    schema = str(repo_root / "workflow/schemas/config.schema.yaml")
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    del config["comtrade"]["tariffline"]
    validate(config, schema)
    tl = config["comtrade"]["tariffline"]
    assert tl["enabled"] is True and tl["reporters"] == ["CHN"] and tl["flows"] == ["M", "X"]
    assert tl["hs6"] == ["253090", "261220", "2846", "280530"] and tl["files"] == [] and "source" not in tl
    config["comtrade"]["tariffline"]["files"] = [{"path": "x.json", "partner_codes": "ISO"}]
    with pytest.raises(Exception, match="ISO"):
        validate(config, schema)


def test_offline_config_lists_the_real_files(repo_root: Path) -> None:
    offline = yaml.safe_load((repo_root / "config/offline.yaml").read_text())["comtrade"]["tariffline"]
    assert offline["source"] == "files"
    assert {Path(f["path"]).name for f in offline["files"]} == set(REAL_FILES)
    assert all(f["reporter"] == "CHN" and f["flow"] == "M" and f["partner_codes"] == "iso_numeric"
               for f in offline["files"])  # fmt: skip
    assert comtrade_code_from_iso3("CHN") == 156


@pytest.mark.workflow
def test_offline_dry_run_plans_the_tariffline_year(real_data: Path, repo_root: Path) -> None:
    run = subprocess.run(
        # --forcerun: plan the job even where an earlier run left the file in the checkout
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "resources/raw/tariffline/2023.json",
         "--forcerun", "download_tariffline", "--configfile", "config/offline.yaml"],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "download_tariffline" in run.stdout


# ------------------------------------------------------------------ the key goes only to the configured host


def test_a_keyed_tariffline_request_redirected_elsewhere_fails_and_the_key_stays_home(
    comtrade_server, tmp_path
) -> None:
    with ComtradeServer() as elsewhere:  # records whether the key header reached it
        elsewhere.handler = prefix_handler(tariffline_pool(2023, per_cell=1))
        target = elsewhere.base_url + TARIFFLINE_KEYED_PATH
        comtrade_server.handler = lambda request: Answer(status=301, headers={"Location": target})
        out = tmp_path / "2023.json"
        scope = api_scope(comtrade_server.base_url, keyed=True, max_records=250000)
        with pytest.raises(ReeflowError, match=r"HTTP 301 redirect to host 127\.0\.0\.1; not followed") as info:
            download_tariffline_year(out, 2023, scope, api_key=SECRET, sleep=lambda s: None)
        assert elsewhere.requests == []  # neither the key nor anything else reached it
    assert [r.headers.get(KEY_HEADER) for r in comtrade_server.requests] == [SECRET]
    assert SECRET not in str(info.value) and not out.exists()


def test_a_keyless_tariffline_request_may_follow_a_redirect(comtrade_server, tmp_path) -> None:
    with ComtradeServer() as elsewhere:
        elsewhere.handler = prefix_handler(tariffline_pool(2023, per_cell=1))
        target = elsewhere.base_url + TARIFFLINE_KEYLESS_PATH
        comtrade_server.handler = lambda request: Answer(
            status=302, headers={"Location": target + "?" + "&".join(f"{k}={v}" for k, v in request.query.items())}
        )
        out = tmp_path / "2023.json"
        download_tariffline_year(out, 2023, api_scope(comtrade_server.base_url), sleep=lambda s: None)
        assert elsewhere.requests and not any(KEY_HEADER in r.headers for r in elsewhere.requests)
    assert len(tariffline_records(out)) == 4


@pytest.mark.parametrize("key", ["tl\r\nX-Injected: 1", "tl key", "tl\x7fkey", "tl\u2028key"])
def test_a_tariffline_key_with_control_or_blank_characters_is_refused_without_echo(
    comtrade_server, tmp_path, key: str
) -> None:
    scope = api_scope(comtrade_server.base_url, keyed=True)
    with pytest.raises(ReeflowError, match="COMTRADE_API_KEY holds whitespace") as info:
        download_tariffline_year(tmp_path / "2023.json", 2023, scope, api_key=key, sleep=lambda s: None)
    shown = str(info.value) + repr(info.value)
    assert all(form not in shown for form in (key, repr(key)[1:-1], "tl "))
    assert comtrade_server.requests == [] and list(tmp_path.iterdir()) == []


def test_a_tariffline_answer_over_max_answer_mb_is_refused(comtrade_server, tmp_path) -> None:
    comtrade_server.handler = prefix_handler(tariffline_pool(2023, per_cell=3))
    scope = api_scope(comtrade_server.base_url, max_answer_mb=0.0005)
    with pytest.raises(ReeflowError, match=r"previewTariffline.*larger than 524 bytes.*comtrade\.max_answer_mb"):
        download_tariffline_year(tmp_path / "2023.json", 2023, scope, sleep=lambda s: None)
    assert len(comtrade_server.requests) == 1 and list(tmp_path.iterdir()) == []
