"""A local stand-in for the Comtrade v1 API: a threaded HTTP server on 127.0.0.1, scripted per request.

Answers come from a queue of canned ``Answer``s (served in order), then from a handler function
(for example ``filtering_handler``, which answers like Comtrade from a pool of records and truncates
at maxRecords). Every request's path, query and headers are recorded for the tests to inspect.
Records built here are SYNTHETIC; real recorded answers are served by ``real_year_handler`` from the
shared folder, read in place.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from reeflow.acquire.raw import V1_FIELDS  # noqa: E402  (the 47 fields of a Comtrade v1 record)


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Answer:
    """A canned answer; ``drop`` closes the connection without answering (a network failure),
    ``delay`` waits that many seconds first (a slow server, for timeouts), ``truncate_at`` sends only
    that many bytes of the body under the full Content-Length, then closes (a cut download);
    without ``send_length`` the body goes without Content-Length, ended by closing the connection."""

    status: int = 200
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop: bool = False
    delay: float = 0.0
    truncate_at: int | None = None
    send_length: bool = True


Handler = Callable[[Recorded], Answer]


def envelope(records: list[dict[str, Any]], error: str = "") -> str:
    """A Comtrade v1 JSON envelope around ``records``, as the API sends it."""
    return json.dumps({"elapsedTime": "0.01 secs", "count": len(records), "data": records, "error": error})


def synthetic_record(
    year: int = 2021, reporter: int = 156, flow: str = "M", cmd: str = "2846", partner: int = 0, **extra: Any
) -> dict[str, Any]:
    """A SYNTHETIC record with all 47 v1 fields; quantities derive from the keys so each is distinct."""
    qty = float(1000 + reporter * 7 + partner * 3 + int(cmd[:4]) % 97 + year % 13 + (flow == "X") * 11)
    record: dict[str, Any] = {name: None for name in V1_FIELDS}
    record.update(
        typeCode="C", freqCode="A", refPeriodId=year * 10000 + 101, refYear=year, refMonth=52,
        period=str(year), reporterCode=reporter, reporterISO="", reporterDesc="", flowCode=flow, flowDesc="",
        partnerCode=partner, partnerISO="", partnerDesc="", partner2Code=0, partner2ISO="W00",
        partner2Desc="World", classificationCode="H5", classificationSearchCode="HS",
        isOriginalClassification=True, cmdCode=cmd, cmdDesc="synthetic", aggrLevel=len(cmd),
        isLeaf=len(cmd) == 6,
        customsCode="C00", customsDesc="TOTAL CPC", mosCode="0", motCode=0, motDesc="TOTAL MOT",
        qtyUnitCode=8, qtyUnitAbbr="kg", qty=qty, isQtyEstimated=False, altQtyUnitCode=-1,
        altQtyUnitAbbr="N/A", altQty=0.0, isAltQtyEstimated=False, netWgt=qty, isNetWgtEstimated=False,
        grossWgt=0.0, isGrossWgtEstimated=False, cifvalue=qty * 3.0 if flow == "M" else None,
        fobvalue=qty * 2.0 if flow == "X" else None, primaryValue=qty * 3.0, legacyEstimationFlag=0,
        isReported=True, isAggregate=True,
    )  # fmt: skip
    record.update(extra)
    return record


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a record in a Comtrade answer (year, reporter, flow, code, partner)."""
    return (
        int(record["refYear"]), int(record["reporterCode"]), str(record["flowCode"]), str(record["cmdCode"]),
        int(record["partnerCode"]),
    )  # fmt: skip


def _listed(query: dict[str, str], name: str) -> set[str] | None:
    value = query.get(name)
    return None if value is None else set(value.split(","))


def filtering_handler(pool: list[dict[str, Any]]) -> Handler:
    """Answer like Comtrade: the records of ``pool`` matching the query, cut at maxRecords."""

    def handle(request: Recorded) -> Answer:
        q = request.query
        periods, reporters = _listed(q, "period"), _listed(q, "reporterCode")
        flows, codes = _listed(q, "flowCode"), _listed(q, "cmdCode")
        hits = [
            r for r in pool
            if (periods is None or str(r["refYear"]) in periods)
            and (reporters is None or str(r["reporterCode"]) in reporters)
            and (flows is None or r["flowCode"] in flows)
            and (codes is None or r["cmdCode"] in codes)
        ]  # fmt: skip
        cap = int(q.get("maxRecords", "500"))
        return Answer(body=envelope(hits[:cap]))

    return handle


def real_year_handler(real_dir: Path) -> Handler:
    """Serve the real recorded China-imports answers (china-imports-2846/{period}.json) verbatim."""
    folder = real_dir / "comtrade" / "china-imports-2846"

    def handle(request: Recorded) -> Answer:
        path = folder / f"{request.query.get('period', '')}.json"
        if not path.is_file():
            return Answer(body=envelope([]))
        return Answer(body=path.read_bytes())

    return handle


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ComtradeServer:
    """The scripted server; use as a context manager or through the ``comtrade_server`` fixture."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.answers: deque[Answer] = deque()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def queue(self, *answers: Answer) -> ComtradeServer:
        """Serve these answers, in order, before falling back on the handler."""
        with self._lock:
            self.answers.extend(answers)
        return self

    def _answer(self, request: Recorded) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self.answers:
                return self.answers.popleft()
        if self.handler is None:
            return Answer(status=500, body="no answer scripted", content_type="text/plain")
        return self.handler(request)

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                request = Recorded(
                    path=parts.path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k: v for k, v in self.headers.items()},
                )  # fmt: skip
                answer = server._answer(request)
                if answer.delay:
                    time.sleep(answer.delay)  # bounded: the tests' delays are a second or two
                if answer.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    if answer.send_length:
                        self.send_header("Content-Length", str(len(body)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if answer.truncate_at is not None:
                        self.wfile.write(body[: answer.truncate_at])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(body)
                    if not answer.send_length:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet test output)
                pass

        return _Handler

    def start(self) -> ComtradeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ComtradeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def comtrade_server() -> Iterator[ComtradeServer]:
    """A running server with nothing scripted: queue answers or set ``.handler`` in the test."""
    with ComtradeServer() as server:
        yield server


# --------------------------------------------------------------------------------------------
# Data availability (getDA): what `make update` asks before refetching a year

AVAILABILITY_PATHS = (
    "/public/v1/getDA/", "/data/v1/getDa/", "/public/v1/getDATariffline/", "/data/v1/getDaTariffline/",
)  # fmt: skip


def availability_record(
    year: int, reporter: int, released: str = "2024-02-01T00:00:00", checksum: int = 1000, classification: str = "H5"
) -> dict[str, Any]:
    """A SYNTHETIC data-availability record in the fields of Comtrade's getDA answer."""
    return {
        "datasetCode": int(f"{reporter}{year}"), "typeCode": "C", "freqCode": "A", "period": year,
        "reporterCode": reporter, "reporterISO": "", "reporterDesc": "", "classificationCode": classification,
        "isOriginalClassification": True, "totalRecords": 10, "datasetChecksum": checksum,
        "firstReleased": "2023-06-01T00:00:00", "lastReleased": released,
    }  # fmt: skip


def is_availability(request: Recorded) -> bool:
    return request.path.startswith(AVAILABILITY_PATHS)


def availability_handler(availability: list[dict[str, Any]], data: Handler) -> Handler:
    """getDA (keyed, keyless, tariff lines) from ``availability`` filtered by period and reporterCode,
    every other request from ``data``; both may be changed between calls to stage a revision."""

    def handle(request: Recorded) -> Answer:
        if not is_availability(request):
            return data(request)
        periods, reporters = _listed(request.query, "period"), _listed(request.query, "reporterCode")
        hits = [
            r for r in availability
            if (periods is None or str(r["period"]) in periods)
            and (reporters is None or str(r["reporterCode"]) in reporters)
        ]  # fmt: skip
        return Answer(body=envelope(hits))

    return handle
