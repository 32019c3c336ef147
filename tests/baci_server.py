"""A local stand-in for CEPII's download site, serving SYNTHETIC BACI releases written by code.

The server answers GET with byte ranges (206 + Content-Range) unless told to ignore them, and can be
scripted per request: cut the body after N bytes (under the full Content-Length, then close: a cut
connection), answer with an HTML page, or 404. Every request's path and headers are recorded.
``write_release`` writes a release zip in CEPII's layout for any HS vintage.
"""

from __future__ import annotations

import threading
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from reeflow.acquire.baci import country_member, year_member

# SYNTHETIC country table in the release's layout (codes follow Comtrade, as BACI's do).
COUNTRY_TABLE = (
    "country_code,country_name,country_iso2,country_iso3\n"
    '156,China,CN,CHN\n344,"China, Hong Kong SAR",HK,HKG\n842,USA,US,USA\n392,Japan,JP,JPN\n'
    "276,Germany,DE,DEU\n"
)


def write_release(
    path: Path, hs: str, version: str, rows_by_year: dict[int, Iterable[str]], countries: str = COUNTRY_TABLE
) -> Path:
    """A SYNTHETIC release zip as CEPII ships it: one BACI_{hs}_Y{year}_V{version}.csv per year."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for year, rows in rows_by_year.items():
            zf.writestr(year_member(year, version, hs), "t,i,j,k,v,q\n" + "\n".join(rows) + "\n")
        zf.writestr(country_member(version), countries)
        zf.writestr(f"product_codes_{hs}_V{version}.csv", "code,description\n")
        zf.writestr(f"Readme_{hs}.txt", "SYNTHETIC release for tests\n")
    return path


@dataclass
class Fault:
    """A scripted answer for the next request: ``cut_at`` sends that many bytes of the (ranged) body
    under the full Content-Length and closes; ``html`` answers 200 text/html; ``status`` an error."""

    cut_at: int | None = None
    html: bool = False
    status: int | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class BaciSite:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> bytes
    honour_range: bool = True
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None


def _handler(site: BaciSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            with site.lock:
                site.requests.append(Seen(self.path, dict(self.headers.items())))
            fault = site.next_fault()
            if fault and fault.status:
                return self._send(fault.status, b"error", "text/plain")
            if fault and fault.html:
                page = b"<!DOCTYPE html><html><body>Please accept our terms</body></html>"
                return self._send(200, page, "text/html; charset=utf-8")
            body = site.files.get(self.path)
            if body is None:
                return self._send(404, b"<html>Not Found</html>", "text/html")
            start = 0
            rng = self.headers.get("Range", "")
            if site.honour_range and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[len("bytes="):-1])
                if start >= len(body):
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(body)}"})
            part = body[start:]
            headers = {"ETag": '"synthetic-1"', "Accept-Ranges": "bytes"}
            status = 200
            if start:
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            cut = fault.cut_at if fault else None
            self._send(status, part, "application/zip", headers, cut)

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None,
                  cut: int | None = None) -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

    return Handler


class BaciServer:
    """``with BaciServer(site) as server:`` serves ``site`` on 127.0.0.1; ``server.url(path)``."""

    def __init__(self, site: BaciSite) -> None:
        self.site = site
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self) -> BaciServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ranges_asked(site: BaciSite) -> Iterator[str]:
    return (r.headers.get("Range", "") for r in site.requests)
