"""retrieve_usgs against a scripted HTTP server on 127.0.0.1, and with local files.

Every body served here is SYNTHETIC.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from http_stub import Answer, StubServer
from reeflow.acquire.usgs import retrieve_usgs
from reeflow.http import HttpError
from reeflow.io import ReeflowError

CSV_BODY = (
    '\ufeffSource,Country,Type,Prod_t_2021,Prod_t_est_2022\r\nMCS2099,China,SYNTHETIC,"1,000","2,000"\r\n'
).encode()
XLSX_LIKE = b"PK\x03\x04" + b"SYNTHETIC workbook bytes" * 10


class Server(StubServer):
    """The test HTTP stub serving a queue of (status, body, content type), then 404s."""

    def __init__(self) -> None:
        super().__init__(lambda request: Answer(status=404, body=b"gone", content_type="text/plain"))
        self.url = self.base_url

    def queue(self, *answers: tuple[int, bytes, str]) -> Server:  # type: ignore[override]
        return super().queue(*(Answer(status=s, body=b, content_type=c) for s, b, c in answers))  # type: ignore[return-value]


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as srv:
        yield srv


def paths(tmp_path: Path, kind: str, name: str) -> tuple[Path, Path]:
    return (tmp_path / "raw" / "usgs" / kind / name, tmp_path / "raw" / "usgs" / "provenance" / kind / f"{name}.json")


def url_entry(url: str, kind: str = "mcs", name: str = "mcs2099-raree_world.csv", edition: str = "") -> dict:
    return {"kind": kind, "name": name, "source": url, "edition": edition, "is_url": True}


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_retries_a_500_then_saves_byte_for_byte(server: Server, tmp_path: Path) -> None:
    server.queue((500, b"busy", "text/plain"), (200, CSV_BODY, "text/csv"))
    raw, provenance = paths(tmp_path, "mcs", "mcs2099-raree_world.csv")
    record = retrieve_usgs(url_entry(f"{server.url}/world.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert len(server.requests) == 2
    assert raw.read_bytes() == CSV_BODY
    saved = json.loads(provenance.read_text())
    assert saved == record
    assert saved["status"] == 200 and saved["bytes"] == len(CSV_BODY)
    assert saved["sha256"] == hashlib.sha256(CSV_BODY).hexdigest()
    assert saved["edition"] == "MCS2099" and saved["source"].endswith("/world.csv")
    assert saved["retrieved_at"].endswith("Z")


def test_404_is_a_clear_error_and_writes_nothing(server: Server, tmp_path: Path) -> None:
    server.queue((404, b"Not Found", "text/plain"))
    raw, provenance = paths(tmp_path, "mcs", "x.csv")
    with pytest.raises(HttpError, match="404") as err:
        retrieve_usgs(url_entry(f"{server.url}/x.csv", name="x.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert err.value.status == 404 and "USGS mcs/x.csv" in str(err.value)
    assert len(server.requests) == 1  # a 404 is not retried
    assert files_in(tmp_path) == []


def test_html_page_with_200_is_refused(server: Server, tmp_path: Path) -> None:
    server.queue((200, b"<!DOCTYPE html><html><body>ScienceBase login</body></html>", "text/html"))
    raw, provenance = paths(tmp_path, "ds140", "ds140.xlsx")
    with pytest.raises(ReeflowError, match="HTML page"):
        retrieve_usgs(url_entry(f"{server.url}/a", kind="ds140", name="ds140.xlsx"), raw, provenance, backoff_seconds=0)
    assert files_in(tmp_path) == []


def test_gives_up_after_max_tries(server: Server, tmp_path: Path) -> None:
    server.queue(*[(503, b"down", "text/plain")] * 3)
    raw, provenance = paths(tmp_path, "mcs", "x.csv")
    with pytest.raises(HttpError, match="gave up after 3 tries"):
        retrieve_usgs(url_entry(f"{server.url}/x", name="x.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert len(server.requests) == 3 and files_in(tmp_path) == []


def test_workbook_kind_checks_the_zip_signature(server: Server, tmp_path: Path) -> None:
    server.queue((200, CSV_BODY, "text/csv"), (200, XLSX_LIKE, "application/octet-stream"))
    raw, provenance = paths(tmp_path, "myb", "myb1-2022-raree-ert.xlsx")
    entry = url_entry(f"{server.url}/t", kind="myb", name="myb1-2022-raree-ert.xlsx")
    with pytest.raises(ReeflowError, match="not an .xlsx workbook"):
        retrieve_usgs(entry, raw, provenance, backoff_seconds=0)
    assert files_in(tmp_path) == []
    record = retrieve_usgs(entry, raw, provenance, backoff_seconds=0)
    assert raw.read_bytes() == XLSX_LIKE and record["edition"] == "MYB2022"


def test_local_file_is_registered_with_its_mtime(tmp_path: Path) -> None:
    source = tmp_path / "in" / "synthetic-table.csv"
    source.parent.mkdir()
    source.write_bytes(b"year,country,value_t_reo,source\n2020,China,1,SYNTHETIC\n")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    raw, provenance = paths(tmp_path / "out", "table", "synthetic-table.csv")
    entry = {"kind": "table", "name": "synthetic-table.csv", "source": str(source), "edition": "NAT2020",
             "is_url": False}  # fmt: skip
    record = retrieve_usgs(entry, raw, provenance)
    assert raw.read_bytes() == source.read_bytes()
    assert record["status"] == "local" and record["edition"] == "NAT2020"
    assert record["retrieved_at"] == "2020-09-13T12:26:40Z"
    with pytest.raises(ReeflowError, match="local file not found"):
        retrieve_usgs({**entry, "source": str(tmp_path / "missing.csv")}, raw.with_name("m.csv"), provenance)


def test_a_download_over_max_file_mb_stops_and_writes_nothing(server: Server, tmp_path: Path) -> None:
    server.queue((200, CSV_BODY, "text/csv"))
    raw, provenance = paths(tmp_path, "mcs", "mcs2099-raree_world.csv")
    url = f"{server.url}/world.csv"
    with pytest.raises(ReeflowError, match=rf"{url}.*larger than 20 bytes.*config usgs\.max_file_mb"):
        retrieve_usgs(url_entry(url), raw, provenance, max_tries=3, backoff_seconds=0, max_bytes=20)
    assert len(server.requests) == 1 and files_in(tmp_path) == []  # not retried


def test_a_local_file_over_max_file_mb_is_refused(tmp_path: Path) -> None:
    local = tmp_path / "mcs2099-raree_world.csv"
    local.write_bytes(CSV_BODY)
    raw, provenance = paths(tmp_path / "out", "mcs", local.name)
    entry = {"kind": "mcs", "name": local.name, "source": str(local), "edition": "", "is_url": False}
    with pytest.raises(ReeflowError, match=r"more than the 20 that config usgs\.max_file_mb allows"):
        retrieve_usgs(entry, raw, provenance, max_bytes=20)
    assert files_in(tmp_path / "out") == []
    assert retrieve_usgs(entry, raw, provenance, max_bytes=len(CSV_BODY))["bytes"] == len(CSV_BODY)
