"""Resolve and download one file of a ScienceBase item (USGS data releases) through its JSON API.

ScienceBase file links (``/catalog/file/get/{item}?f=__disk__...``) change when USGS revises a
release; the item id does not. So the configuration names the item and the file (an exact name or
a glob pattern), and the link is read from
``{base}/catalog/item/{item}?format=json&fields=title,files`` at download time. Each file there has
``name``, ``size``, ``checksum`` ``{value, type}`` and ``downloadUri``; the checksum, when given, is
verified with the hashlib algorithm it names before anything is written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from typing import Any

import requests

from reeflow.http import fetch
from reeflow.io import ReeflowError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.sciencebase.gov"
ITEM_FIELDS = "title,files"
_GLOB_CHARS = frozenset("*?[")


def item_url(base_url: str, item: str) -> str:
    """The item's JSON API address (without the query string)."""
    return f"{base_url.rstrip('/')}/catalog/item/{item}"


def is_pattern(file: str) -> bool:
    """Whether the configured file is a glob pattern rather than an exact name."""
    return any(ch in _GLOB_CHARS for ch in file)


def _where(item: str, file: str) -> str:
    return f"ScienceBase item {item}, file {file!r}"


def parse_item(payload: Any, item: str, file: str) -> tuple[str, list[dict[str, Any]]]:
    """The item's title and its file list, or a ReeflowError when the JSON is not an item's."""
    where = _where(item, file)
    fix = "check the item id (config usgs.urls sciencebase_item) and usgs.sciencebase_url"
    if not isinstance(payload, dict):
        raise ReeflowError(f"{where}: item JSON is a {type(payload).__name__}, not an object; {fix}")
    files = payload.get("files")
    if not isinstance(files, list):
        raise ReeflowError(
            f"{where}: item JSON has no 'files' list (keys: {', '.join(sorted(payload)) or 'none'}); "
            f"the item may be private, withdrawn or a folder; {fix}"
        )
    good = []
    for number, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ReeflowError(f"{where}: item JSON file #{number} has no 'name'; {fix}")
        good.append(entry)
    return str(payload.get("title") or ""), good


def pick_file(files: list[dict[str, Any]], item: str, file: str) -> dict[str, Any]:
    """The one file whose name is ``file`` (exact) or matches it (glob); anything else is an error."""
    where = _where(item, file)
    names = [f["name"] for f in files]
    if is_pattern(file):
        matches = [f for f in files if fnmatch.fnmatchcase(f["name"], file)]
    else:
        matches = [f for f in files if f["name"] == file]
    listing = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "") if names else "none"
    if not matches:
        raise ReeflowError(
            f"{where}: no file of the item matches (item files: {listing}); fix 'file' in config "
            "usgs.urls (an exact name or a glob pattern such as 'mcs2025-rare*_salient.csv')"
        )
    if len(matches) > 1:
        kind = "pattern" if is_pattern(file) else "exact name"
        raise ReeflowError(
            f"{where}: the {kind} matches {len(matches)} files ({', '.join(m['name'] for m in matches)}); "
            "make 'file' in config usgs.urls match exactly one (use its exact, unique name)"
        )
    chosen = matches[0]
    link = chosen.get("downloadUri") or chosen.get("url")
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise ReeflowError(f"{where}: file {chosen['name']!r} has no downloadUri in the item JSON; check the item")
    return chosen


def _checksum(entry: dict[str, Any]) -> tuple[str, str] | None:
    """(hashlib algorithm name, lower-case hex value) from the file's checksum, or None if absent."""
    checksum = entry.get("checksum")
    if not isinstance(checksum, dict) or not checksum.get("value"):
        return None
    algorithm = str(checksum.get("type") or "md5").strip().lower().replace("-", "").replace("_", "")
    return algorithm, str(checksum["value"]).strip().lower()


def verify(data: bytes, entry: dict[str, Any], item: str, file: str) -> dict[str, Any]:
    """Compare the downloaded bytes with the size and checksum the item JSON gives.

    Returns the checksum record for the provenance; raises ReeflowError on any difference."""
    where = _where(item, file)
    size = entry.get("size")
    if isinstance(size, int) and size != len(data):
        raise ReeflowError(
            f"{where}: downloaded {len(data)} bytes but the item lists {entry['name']!r} as {size} bytes; "
            "the download was cut short or the file changed: run again, and if it persists check the item"
        )
    expected = _checksum(entry)
    if expected is None:
        log.warning("%s: the item JSON gives no checksum; only the size was checked", where)
        return {"type": None, "value": None, "verified": False}
    algorithm, value = expected
    if algorithm not in hashlib.algorithms_available:
        log.warning("%s: checksum type %r unknown to hashlib; not verified", where, algorithm)
        return {"type": algorithm, "value": value, "verified": False}
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != value:
        raise ReeflowError(
            f"{where}: {algorithm} checksum of the download is {actual}, the item lists {value}; "
            "the file was corrupted in transit or replaced: run again, and if it persists check the item "
            "on ScienceBase (nothing was written)"
        )
    return {"type": algorithm, "value": value, "verified": True}


def retrieve_item_file(
    item: str,
    file: str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 120.0,
    max_tries: int = 4,
    backoff_seconds: float = 2.0,
    session: requests.Session | None = None,
    describe: str = "",
    max_bytes: int | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Ask ScienceBase for the item's files, download the one ``file`` names and verify it.

    Returns the bytes and a provenance record: item id, item title, file name, downloadUri, size
    and checksum. HTTP failures after the retries raise ``HttpError`` (a ReeflowError) naming the
    item and the file; an answer (item JSON or file) over ``max_bytes`` (config usgs.max_file_mb)
    stops the download."""
    where = (f"{describe}: " if describe else "") + _where(item, file)
    url = item_url(base_url, item)
    retry = {"timeout": timeout, "max_tries": max_tries, "backoff_seconds": backoff_seconds, "session": session,
             "max_bytes": max_bytes, "limit_setting": "usgs.max_file_mb"}  # fmt: skip
    response = fetch(url, params={"format": "json", "fields": ITEM_FIELDS}, describe=f"{where} (item JSON)", **retry)
    try:
        payload = response.json()
    except ValueError as err:
        head = response.text[:120].strip().replace("\n", " ")
        raise ReeflowError(
            f"{where}: {url} did not answer with JSON ({err}; starts {head!r}); check the item id "
            "(config usgs.urls sciencebase_item) and usgs.sciencebase_url"
        ) from err
    title, files = parse_item(payload, item, file)
    chosen = pick_file(files, item, file)
    link = chosen.get("downloadUri") or chosen.get("url")
    data = fetch(link, describe=f"{where} (download {chosen['name']})", **retry).content
    checksum = verify(data, chosen, item, file)
    record = {
        "item": item, "item_url": url, "title": title, "file": chosen["name"], "file_pattern": file,
        "download_uri": link, "size": chosen.get("size"), "checksum": checksum,
    }  # fmt: skip
    log.info("%s: %s (%d bytes, checksum %s)", where, chosen["name"], len(data),
             "verified" if checksum["verified"] else "not verified")  # fmt: skip
    return data, record
