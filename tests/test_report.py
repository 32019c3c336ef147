"""Report pieces on SYNTHETIC raw files written here: provenance table and page, the figures' source
line, table publishing, and the headless-browser check (skipped where chromium is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg
from test_baci import CODES, ROWS, VERSION, YEAR, write_baci_zip

from reeflow import __version__
from reeflow.acquire.baci import extract_year, register_archive
from reeflow.io import ReeflowError, sha256_file
from reeflow.report.publish import (
    PROVENANCE_COLUMNS,
    collect_provenance,
    find_chromium,
    provenance_html,
    publish_table,
    redact,
    screenshot_html,
    source_line,
    write_provenance,
)
from reeflow.schemas import HEADLINE_COLUMNS

SHA = "ab" * 32


def chromium_screenshot_or_skip(html: Path, png: Path, **kwargs: object) -> Path:
    """Screenshot ``html`` in headless Chromium, or skip the calling test when no browser exists.

    For the workflow test of the full report: ``chromium_screenshot_or_skip(report, tmp / "r.png")``."""
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); browser check skipped")
    return screenshot_html(html, png, **kwargs)  # type: ignore[arg-type]


def comtrade_year_file(folder: Path, year: int, secret_in_url: bool = False) -> Path:
    url = f"https://comtradeapi.un.org/public/v1/preview/C/A/HS?period={year}&reporterCode=842"
    if secret_in_url:
        url += "&subscription-key=SYNTHETICSECRET"
    raw = {
        "source": "api", "year": year, "scope": {},
        "responses": [
            {"kind": "api", "url": url, "endpoint": "preview", "params": {},
             "retrieved_at": "2026-01-01T00:00:00Z", "status": 200, "count": 3,
             "sha256": SHA, "body": '{"data": []}'},
            {"kind": "file", "path": "data/synthetic-2020.json", "sha256": "cd" * 32,
             "retrieved_at": "2026-01-02T00:00:00Z", "format": "json", "count": 2, "records": [{}, {}]},
        ],
    }  # fmt: skip
    path = folder / f"{year}.json"
    path.write_text(json.dumps(raw))
    return path


def usgs_record(folder: Path, name: str = "synthetic.csv") -> Path:
    path = folder / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "source": "https://example.org/synthetic.csv",
                "kind": "mcs",
                "edition": "MCS2099",
                "sha256": "ef" * 32,
                "retrieved_at": "2026-01-03T00:00:00Z",
                "status": 200,
            }
        )
    )
    return path


# ------------------------------------------------------------------ source line and redaction


@pytest.mark.parametrize(
    ("source", "rule", "expected"),
    [
        ("api", "importer_first", "UN Comtrade"),
        ("files", "max", "UN Comtrade"),
        ("baci", "max", "CEPII BACI"),
    ],
)
def test_source_line_names_data_version_and_rule(source: str, rule: str, expected: str) -> None:
    line = source_line(source, rule)
    assert line.startswith(f"Source: {expected}, USGS") and __version__ in line
    assert (f"mirror rule {rule}" in line) == (source != "baci")


def test_redact_removes_keys_from_urls_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact("https://x/a?period=2020&subscription-key=abc123&b=1") == (
        "https://x/a?period=2020&subscription-key=***&b=1"
    )
    monkeypatch.setenv("COMTRADE_API_KEY", "SYNTHETIC-KEY-42")
    assert "SYNTHETIC-KEY-42" not in redact("echo SYNTHETIC-KEY-42 back")


# ------------------------------------------------------------------ provenance


def test_collect_provenance_one_row_per_response_and_usgs_record(tmp_path: Path) -> None:
    raw = [comtrade_year_file(tmp_path, 2020), comtrade_year_file(tmp_path, 2021)]
    table = collect_provenance(raw, [usgs_record(tmp_path)])
    assert list(table.columns) == list(PROVENANCE_COLUMNS)
    assert table["dataset"].tolist() == ["comtrade"] * 4 + ["usgs"]
    api = table.loc[table["kind"] == "api:preview"]
    assert api["year"].tolist() == [2020, 2021] and api["count"].tolist() == [3, 3]
    assert (api["sha256"] == SHA).all() and api["location"].str.startswith("https://").all()
    usgs = table.loc[table["dataset"] == "usgs"].iloc[0]
    assert usgs["edition"] == "MCS2099" and usgs["status"] == 200


def test_provenance_never_publishes_a_key(tmp_path: Path) -> None:
    table = collect_provenance([comtrade_year_file(tmp_path, 2020, secret_in_url=True)], [])
    assert not table["location"].str.contains("SYNTHETICSECRET").any()
    page = provenance_html(table, {"comtrade": {"base_url": "https://x?key=SYNTHETICSECRET"}})
    assert "SYNTHETICSECRET" not in page


def test_year_file_without_responses_still_listed(tmp_path: Path) -> None:
    path = tmp_path / "2019.json"
    path.write_text(json.dumps({"source": "files", "year": 2019, "responses": []}))
    table = collect_provenance([path], [])
    assert len(table) == 1 and table["kind"].iloc[0] == "none" and table["year"].iloc[0] == 2019


def test_baci_provenance_from_the_real_extract(tmp_path: Path) -> None:
    """The metadata is written by extract_year itself (a SYNTHETIC release as in test_baci), so the
    reader must understand the writer's keys: year (from the member), rows kept and the archive hash."""
    archive = write_baci_zip(tmp_path / f"BACI_HS92_V{VERSION}.zip")
    prov, path = tmp_path / "archive_provenance.json", tmp_path / f"{YEAR}.parquet"
    register_archive(archive, prov)
    extract_year(archive, YEAR, CODES, path, prov)
    row = collect_provenance([path], []).iloc[0]
    assert (row["dataset"], row["year"], row["edition"]) == ("baci", YEAR, VERSION)
    assert row["count"] == len(ROWS) - 2  # rows kept, as test_baci counts them
    assert row["sha256"] == sha256_file(archive)
    assert row["location"] == str(archive) and row["retrieved_at"].endswith("Z")


@pytest.mark.parametrize(
    ("content", "match"),
    [("{not json", "not valid JSON"), ('{"year": 2020}', "no 'responses' list")],
)
def test_bad_year_file_names_file_and_fix(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "2020.json"
    path.write_text(content)
    with pytest.raises(ReeflowError, match=match) as err:
        collect_provenance([path], [])
    assert "2020.json" in str(err.value)


def test_bad_usgs_record_and_unknown_type(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(ReeflowError, match="sha256.*retrieve_usgs"):
        collect_provenance([], [bad])
    with pytest.raises(ReeflowError, match="unknown raw trade file type"):
        collect_provenance([tmp_path / "2020.txt"], [])


def test_write_provenance_page_escapes_and_lists_config(tmp_path: Path) -> None:
    raw = comtrade_year_file(tmp_path, 2020)
    config = {"years": {"start": 2020, "end": 2020}, "note": "<script>alert(1)</script>"}
    csv, html = tmp_path / "out" / "provenance.csv", tmp_path / "out" / "provenance.html"
    table = write_provenance([raw], [usgs_record(tmp_path)], config, csv, html)
    page = html.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<tr>") == len(table) + 1 and SHA in page and "start: 2020" in page
    assert pd.read_csv(csv)["sha256"].tolist() == table["sha256"].tolist()


# ------------------------------------------------------------------ tables


def test_publish_table_checks_contract(tmp_path: Path) -> None:
    good = tmp_path / "headline.csv"
    pd.DataFrame({col: [1] for col in HEADLINE_COLUMNS}).to_csv(good, index=False)
    out = tmp_path / "report" / "headline.csv"
    publish_table(good, out, HEADLINE_COLUMNS)
    assert list(pd.read_csv(out).columns) == list(HEADLINE_COLUMNS)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"year": [2020]}).to_csv(bad, index=False)
    with pytest.raises(ReeflowError, match=r"bad\.csv: missing column\(s\) us_net_exports_t"):
        publish_table(bad, tmp_path / "never.csv", HEADLINE_COLUMNS)
    assert not (tmp_path / "never.csv").exists()


def test_publish_empty_table_keeps_header(tmp_path: Path) -> None:
    empty = tmp_path / "u.csv"
    empty.write_text("")
    out = tmp_path / "u_out.csv"
    publish_table(empty, out, ("year", "indicator"))
    assert out.read_text().strip() == "year,indicator"


# ------------------------------------------------------------------ headless browser


def test_screenshot_of_small_page_shows_its_content(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text(
        "<!DOCTYPE html><html><body style='margin:0;background:#ffffff'>"
        "<div id='box' style='width:400px;height:300px;background:#0072b2'></div>"
        "<script>document.getElementById('box').style.background='#d55e00'</script></body></html>"
    )
    png = chromium_screenshot_or_skip(html, tmp_path / "shot.png", window=(800, 600))
    img = mpimg.imread(png)
    assert img.shape[:2] == (600, 800)
    top_left = (img[150, 200, :3] * 255).round().astype(int)
    assert np.abs(top_left - [0xD5, 0x5E, 0x00]).max() <= 3  # the script ran: orange, not the initial blue
    assert np.allclose(img[500, 700, :3], 1.0)  # outside the box the page is white


def test_screenshot_errors_are_reeflow_errors(tmp_path: Path) -> None:
    with pytest.raises(ReeflowError, match="no such HTML file"):
        screenshot_html(tmp_path / "absent.html", tmp_path / "x.png", chromium="/bin/true")
    with pytest.raises(ReeflowError, match="did not write a screenshot"):
        html = tmp_path / "p.html"
        html.write_text("<p>x</p>")
        screenshot_html(html, tmp_path / "x.png", chromium="/bin/false")
    assert not (tmp_path / "x.png").exists()


def test_per_year_provenance_csv_reads_back_like_the_raw_file(tmp_path: Path) -> None:
    from reeflow.report.publish import collect_provenance, write_trade_provenance

    raw = comtrade_year_file(tmp_path, 2020)
    direct = collect_provenance([raw], [])
    write_trade_provenance(raw, tmp_path / "2020.csv")
    via_csv = collect_provenance([tmp_path / "2020.csv"], [])
    pd.testing.assert_frame_equal(direct.reset_index(drop=True), via_csv.reset_index(drop=True), check_dtype=False)
    assert list(via_csv["sha256"]) == list(direct["sha256"]) and len(via_csv) == 2
