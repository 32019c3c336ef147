"""Several-GB downloads done right: streamed to disk, resumable, checked, renamed into place when whole.

A BACI release is 2-3 GB; a cut connection an hour in must not cost the hour again. So the bytes go
to ``<target>.part`` (kept when the download fails) beside a small ``<target>.part.json`` that says
which URL and which server version (ETag / Last-Modified) they belong to. The next try, in this run
or the next, asks only for the rest (HTTP ``Range`` with ``If-Range``); a server that ignores the
range (200 instead of 206) or whose file changed gets a fresh start. Only a complete, checked file
is renamed to the target, so the target never exists half-written.

What is checked: the announced length (a short body is a cut, resumed), the first bytes (an HTML
page in place of a zip stops at once, naming the URL), the sha256 when one is configured, and that
the result opens as a zip. A 404, an HTML page and a checksum mismatch leave nothing behind (the
bytes are wrong, resuming them would not help); a full disk keeps the partial file for a resume.

Progress goes to the log (tqdm is not a dependency): a line every ``progress_step`` of the file or
every ``progress_seconds``, with the rate and the time left.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from reeflow.http import RETRY_STATUSES, retry_delay
from reeflow.io import ReeflowError, remove_stale_parts, sha256_file, utc_now, write_json_atomic

log = logging.getLogger(__name__)

DISK_MARGIN_BYTES = 256 << 20  # free space kept beyond the file itself (provenance, extracts)
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_HTML_START = (b"<!doctype", b"<html", b"<head", b"<?xml", b"<body")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive's end record


class DownloadError(ReeflowError):
    """A download that failed for good (the message names the URL and the fix)."""


class DiskFull(DownloadError):
    """The disk filled up mid-download: the partial file is kept, so a rerun after freeing space resumes."""


class _Retry(ReeflowError):
    """A failure worth another try (a cut connection, a 5xx): the partial file is kept, unless
    ``restart`` (the server cannot continue it: the next try starts from byte 0)."""

    def __init__(self, message: str, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


@dataclass(frozen=True)
class DownloadOptions:
    """How one file is fetched; ``what`` names it in every message (e.g. "BACI release <url>")."""

    timeout: float = 300.0
    max_tries: int = 4
    chunk_bytes: int = 1 << 20
    max_bytes: int | None = None
    limit_setting: str = "the download size bound"
    expected_sha256: str = ""
    checksum_setting: str = "the configured sha256"
    fix_hint: str = "check the URL in the config"
    require_zip: bool = True
    progress_step: float = 0.05
    progress_seconds: float = 30.0
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0


def part_paths(target: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The partial file and its sidecar record for ``target``."""
    target = Path(target)
    return target.with_name(target.name + ".part"), target.with_name(target.name + ".part.json")


def check_free_space(folder: str | os.PathLike[str], needed: int, what: str) -> None:
    """Refuse to start writing ``needed`` bytes into ``folder`` when the disk cannot hold them."""
    free = shutil.disk_usage(folder).free
    if free < needed + DISK_MARGIN_BYTES:
        raise DiskFull(
            f"{what}: needs {needed / 2**30:.2f} GB (+{DISK_MARGIN_BYTES >> 20} MB margin) but only "
            f"{free / 2**30:.2f} GB are free in {folder}; free some space (or put resources/ on a larger disk) "
            "and rerun"
        )


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _validator(headers: requests.structures.CaseInsensitiveDict[str]) -> dict[str, str]:
    """What identifies the server's version of the file, for If-Range on a later resume."""
    return {k: headers[h] for k, h in (("etag", "ETag"), ("last_modified", "Last-Modified")) if headers.get(h)}


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith(_HTML_START)


class _Progress:
    """Log lines as the bytes arrive: every ``step`` of the total (or every ``seconds`` when the total
    is unknown or the line would come rarely), with rate and time left."""

    def __init__(self, what: str, start: int, total: int | None, step: float, seconds: float) -> None:
        self.what, self.start, self.total = what, start, total
        self.step, self.seconds = step, seconds
        self.t0 = self.last_t = time.monotonic()
        self.last_done = start

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        step_bytes = self.step * self.total if self.total else float("inf")
        if not force and done - self.last_done < step_bytes and now - self.last_t < self.seconds:
            return
        rate = (done - self.start) / max(now - self.t0, 1e-9)
        if self.total:
            left = (self.total - done) / rate if rate > 0 else float("inf")
            log.info("%s: %.1f of %.1f MB (%.0f%%), %.1f MB/s, about %s left", self.what, done / 2**20,
                     self.total / 2**20, 100 * done / self.total, rate / 2**20, _duration(left))  # fmt: skip
        else:
            log.info("%s: %.1f MB so far, %.1f MB/s", self.what, done / 2**20, rate / 2**20)
        self.last_t, self.last_done = now, done


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown time"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {secs} s"


def _request(
    session: requests.Session, url: str, offset: int, sidecar: dict[str, Any], timeout: float
) -> requests.Response:
    headers = {"Accept-Encoding": "identity"}  # byte ranges must count the file's bytes, not a gzip of them
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = sidecar.get("etag") or sidecar.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    return session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=True)


def _start_offset(response: requests.Response, offset: int, what: str) -> int:
    """Where the answer's body starts in the file: ``offset`` for a matching 206, 0 for a 200."""
    if response.status_code == 200:
        if offset:
            log.warning("%s: the server sent the whole file instead of the rest (no Range support, or the "
                        "file changed since the partial download): starting again from 0", what)  # fmt: skip
        return 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    if not match or int(match.group(1)) != offset:
        raise _Retry(f"{what}: asked for bytes from {offset} but got Content-Range "
                     f"{response.headers.get('Content-Range')!r}; starting again from 0", restart=True)  # fmt: skip
    return offset


def _total_size(response: requests.Response, start: int) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    if match and match.group(3) != "*":
        return int(match.group(3))
    declared = response.headers.get("Content-Length", "")
    return start + int(declared) if declared.isdigit() else None


def _fail_status(response: requests.Response, what: str, opts: DownloadOptions) -> None:
    status = response.status_code
    if status in (404, 410):
        raise DownloadError(f"{what}: HTTP {status} (no file at this address); {opts.fix_hint}")
    if status in RETRY_STATUSES:
        raise _Retry(f"{what}: HTTP {status}")
    raise DownloadError(f"{what}: HTTP {status} {response.reason or ''}".rstrip() + f"; {opts.fix_hint}")


def _write_body(
    response: requests.Response, part: Path, start: int, total: int | None, what: str, opts: DownloadOptions
) -> int:
    """Append the body to ``part`` from ``start``; return the size reached. The first bytes of a file
    are checked before anything is written: an HTML page is refused, and never kept."""
    progress = _Progress(what, start, total, opts.progress_step, opts.progress_seconds)
    size = start
    mode = "r+b" if start else "wb"
    if start == 0:
        part.write_bytes(b"")
    chunks = response.iter_content(chunk_size=opts.chunk_bytes)
    try:
        with open(part, mode) as handle:
            handle.seek(start)
            handle.truncate()
            for index, chunk in enumerate(chunks):
                if index == 0 and start == 0:
                    _check_first_bytes(chunk, response.headers.get("Content-Type", ""), what, opts)
                handle.write(chunk)
                size += len(chunk)
                if opts.max_bytes is not None and size > opts.max_bytes:
                    raise DownloadError(
                        f"{what}: larger than {opts.max_bytes} bytes, the bound set by config {opts.limit_setting}; "
                        "stopped downloading (nothing kept). Raise it if the file really is that large"
                    )
                progress.update(size)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"{what}: the disk is full ({err.strerror}) after {size / 2**20:.1f} MB; the partial file "
                f"{part} is kept: free some space and rerun, the download resumes where it stopped"
            ) from err
        raise
    progress.update(size, force=True)
    return size


def _check_first_bytes(chunk: bytes, content_type: str, what: str, opts: DownloadOptions) -> None:
    if not opts.require_zip or chunk.startswith(ZIP_MAGIC):
        return
    if _looks_like_html(chunk, content_type):
        raise DownloadError(
            f"{what}: the server answered with a web page (Content-Type {content_type or 'unset'}), not a zip "
            f"archive: the address is wrong or the site shows a notice instead of the file; {opts.fix_hint}"
        )
    raise DownloadError(f"{what}: the answer is not a zip archive (it starts {chunk[:8]!r}); {opts.fix_hint}")


def _check_complete(part: Path, size: int, total: int | None, what: str, opts: DownloadOptions) -> str:
    """The sha256 of a complete file, after the length, checksum and zip checks."""
    if total is not None and size < total:
        raise _Retry(f"{what}: got {size} of {total} bytes (connection cut)")
    if total is not None and size > total:
        raise DownloadError(f"{what}: got {size} bytes, more than the {total} announced; rerun to start again")
    digest = sha256_file(part)
    expected = opts.expected_sha256.strip().lower()
    if expected and digest != expected:
        raise DownloadError(
            f"{what}: sha256 {digest} differs from {expected} ({opts.checksum_setting}): the file at this address "
            f"is not the one configured (a different release, or damaged on the way); nothing was kept. Check "
            f"{opts.checksum_setting} or the address, and rerun"
        )
    if opts.require_zip:
        try:
            with zipfile.ZipFile(part) as zf:
                zf.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DownloadError(
                f"{what}: the {size}-byte file is not a readable zip ({err}): the archive is truncated or "
                f"damaged (the server sent no length to check against); nothing was kept; rerun, and if it "
                f"happens again {opts.fix_hint}"
            ) from err
    return digest


def download_file(
    url: str,
    target: str | os.PathLike[str],
    what: str,
    opts: DownloadOptions = DownloadOptions(),
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Download ``url`` to ``target`` (resuming a partial file a failed try left); return a record
    ``{source, status, bytes, sha256, retrieved_at, resumed_from}``.

    A failure that another try cannot fix (404, HTML, checksum, size bound) raises DownloadError at
    once and deletes the partial file; a cut connection or a 5xx is retried ``opts.max_tries`` times,
    each try resuming, and the partial file stays for the next run if all of them fail."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)  # atomic_path's leftovers of a killed writer; our resumable .part stays
    part, sidecar_path = part_paths(target)
    http = session or requests.Session()
    resumed_from: list[int] = []
    last = "no attempt made"
    for attempt in range(opts.max_tries):
        sidecar = _read_sidecar(sidecar_path)
        if part.exists() and sidecar.get("url") != url:
            if sidecar or part.stat().st_size:
                log.warning("%s: a partial file of another address (%s) was found; starting again", what,
                            sidecar.get("url"))  # fmt: skip
            _discard(part, sidecar_path)
        offset = part.stat().st_size if part.exists() else 0
        if offset:
            log.info("%s: resuming from byte %d (a partial file of an earlier try)", what, offset)
            resumed_from.append(offset)
        response: requests.Response | None = None
        try:
            response = _request(http, url, offset, sidecar, opts.timeout)
            if response.status_code == 416 and offset:
                raise _Retry(f"{what}: the server refused the range from byte {offset} (HTTP 416); starting again",
                             restart=True)  # fmt: skip
            if response.status_code not in (200, 206):
                _fail_status(response, what, opts)
            start = _start_offset(response, offset, what)
            total = _total_size(response, start)
            if opts.max_bytes is not None and total is not None and total > opts.max_bytes:
                raise DownloadError(
                    f"{what}: announces {total} bytes, more than the {opts.max_bytes} that config "
                    f"{opts.limit_setting} allows; raise it if the file really is that large"
                )
            if total is not None:
                check_free_space(target.parent, total - start, what)
            else:
                log.warning("%s: no Content-Length; the free disk space cannot be checked beforehand", what)
            write_json_atomic(sidecar_path, {"url": url, "total": total, **_validator(response.headers)})
            size = _write_body(response, part, start, total, what, opts)
            digest = _check_complete(part, size, total, what, opts)
        except DiskFull:
            raise
        except DownloadError:
            _discard(part, sidecar_path)  # wrong bytes (404, a web page, checksum, size): resuming cannot help
            raise
        except (requests.RequestException, _Retry) as err:
            last = str(err)
            if isinstance(err, _Retry) and err.restart:
                _discard(part, sidecar_path)
            if attempt + 1 < opts.max_tries:
                delay = retry_delay(None, attempt, opts.backoff_seconds, opts.max_backoff_seconds)
                log.warning("%s: %s; try %d of %d in %.1f s (resuming)", what, last, attempt + 2, opts.max_tries, delay)
                sleep(delay)
            continue
        finally:
            if response is not None:
                response.close()
        os.replace(part, target)
        _discard(sidecar_path)
        return {"source": url, "status": response.status_code, "bytes": size, "sha256": digest,
                "retrieved_at": utc_now(), "resumed_from": resumed_from}  # fmt: skip
    kept = part.stat().st_size if part.exists() else 0
    raise DownloadError(
        f"{what}: download failed after {opts.max_tries} tries ({last}); "
        + (f"{kept} bytes are kept in {part}: rerun to resume" if kept else "nothing was kept; rerun")
    )

