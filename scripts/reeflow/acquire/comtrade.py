"""UN Comtrade v1 acquisition: one raw year file per year, from the API or from local exports.

The raw year file keeps what came in verbatim (the API's answer text, or the records of a local
file) with its provenance, so that cleaning can be rerun and audited without asking Comtrade again;
see docs/data-model.md ("Raw layer"). The subscription key travels only in a request header and is
scrubbed from every message: it never reaches a URL, a log, an exception or a stored file. It goes
only to the configured API host over https (reeflow.http: no redirect is followed with it) and is
refused up front if it holds characters a header cannot carry safely.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from reeflow.acquire.raw import parse_envelope, read_comtrade_file
from reeflow.countries import COMTRADE_EXCEPTIONS, iso3_from_comtrade
from reeflow.http import HttpError, check_base_url, fetch, scrub
from reeflow.io import ReeflowError, sha256_bytes, sha256_file, utc_now, write_json_atomic
from reeflow.settings import ClientSettings, ComtradeScope

log = logging.getLogger(__name__)

KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEYED_PATH = "/data/v1/get/C/A/HS"
KEYLESS_PATH = "/public/v1/preview/C/A/HS"
# Data availability: per reporter and period, when Comtrade last released the dataset and its checksum
# (what `make update` compares with the cached year). Spelled as Comtrade spells them.
AVAILABILITY_KEYED_PATH = "/data/v1/getDa/C/A/HS"
AVAILABILITY_KEYLESS_PATH = "/public/v1/getDA/C/A/HS"
AVAILABILITY_FIELDS: tuple[str, ...] = (
    "reporterCode", "period", "classificationCode", "firstReleased", "lastReleased", "datasetChecksum",
    "totalRecords",
)  # fmt: skip

# Comtrade codes of entities that no longer exist but share an ISO3 code with a current country
# (West Germany 280 vs Germany 276, former Sudan 736 vs Sudan 729): never the code to ask for now.
FORMER_ENTITY_CODES: frozenset[int] = frozenset({58, 200, 278, 280, 530, 720, 736, 810, 866, 868, 890, 891})


# --------------------------------------------------------------------------------------------
# Reporter codes


def _reporter_code_table() -> dict[str, int]:
    """ISO3 -> the Comtrade numeric code to request, the inverse of iso3_from_comtrade.

    Where several codes map to one ISO3, Comtrade's own code for the current country wins
    (FRA 251 over ISO 250, USA 842 over 840), and former entities never do."""
    table: dict[str, int] = {}
    for code in range(1, 1000):
        iso3, is_country = iso3_from_comtrade(code)
        if is_country and code not in FORMER_ENTITY_CODES:
            table.setdefault(iso3, code)
    for code, (iso3, is_country) in COMTRADE_EXCEPTIONS.items():
        if is_country and code not in FORMER_ENTITY_CODES:
            table[iso3] = code
    return table


_REPORTER_CODES: dict[str, int] | None = None


def comtrade_code_from_iso3(iso3: str) -> int:
    """Comtrade reporter code of an ISO3 country; an unknown code is a configuration error."""
    global _REPORTER_CODES
    if _REPORTER_CODES is None:
        _REPORTER_CODES = _reporter_code_table()
    code = _REPORTER_CODES.get(str(iso3).strip().upper())
    if code is None:
        raise ReeflowError(
            f"config comtrade.reporters (or comtrade.keyless_reporters): '{iso3}' is not an ISO 3166-1 "
            "alpha-3 country code that Comtrade reports under; fix the code or use reporters: all"
        )
    return code


def reporter_codes(reporters: str | Sequence[str]) -> list[int] | None:
    """Numeric codes for the reporterCode parameter; None means every reporter (parameter omitted)."""
    if isinstance(reporters, str):
        if reporters == "all":
            return None
        raise ReeflowError(f"config comtrade.reporters: '{reporters}' must be 'all' or a list of ISO3 codes")
    codes = [comtrade_code_from_iso3(r) for r in reporters]
    if not codes:
        raise ReeflowError("config comtrade.reporters: empty list; give ISO3 codes or 'all'")
    return sorted(set(codes))


# --------------------------------------------------------------------------------------------
# Requests and their splitting


@dataclass(frozen=True)
class Query:
    """One Comtrade question: a year, reporters (None = all), flows and commodity codes."""

    year: int
    reporters: tuple[int, ...] | None
    flows: tuple[str, ...]
    cmd_codes: tuple[str, ...]

    def params(self, max_records: int) -> dict[str, str]:
        """Query parameters as in the recorded real request; no partnerCode (World and every partner)."""
        params = {"period": str(self.year)}
        if self.reporters is not None:
            params["reporterCode"] = ",".join(str(c) for c in self.reporters)
        params.update(
            {
                "cmdCode": ",".join(self.cmd_codes),
                "flowCode": ",".join(self.flows),
                "partner2Code": "0",
                "customsCode": "C00",
                "motCode": "0",
                "maxRecords": str(max_records),
                "format": "JSON",
                "breakdownMode": "classic",
                "includeDesc": "true",
            }
        )
        return params

    def describe(self) -> str:
        who = "all reporters" if self.reporters is None else f"reporters {list(self.reporters)}"
        return f"year {self.year}, {who}, flows {list(self.flows)}, codes {list(self.cmd_codes)}"


def split_query(query: Query) -> tuple[Query, Query] | None:
    """Halve a truncated question: reporters first, then flows, then codes; None if it cannot shrink.

    Reporters go first because they split the answer most evenly; with all reporters only flows
    and codes can be split, since the list of every reporter is not known here."""
    for name in ("reporters", "flows", "cmd_codes"):
        values = getattr(query, name)
        if values is not None and len(values) > 1:
            middle = len(values) // 2
            return replace(query, **{name: values[:middle]}), replace(query, **{name: values[middle:]})
    return None


# --------------------------------------------------------------------------------------------
# The API client


def check_api_key(api_key: str | None) -> None:
    """Refuse a key with whitespace, control or non-ASCII characters before any request is made.

    requests would raise InvalidHeader quoting the key (in repr form, which scrubbing by value
    misses), and a CR/LF could smuggle a header; the message never shows the key, in any form."""
    if api_key and not all(33 <= ord(ch) <= 126 for ch in api_key):
        raise ReeflowError(
            "COMTRADE_API_KEY holds whitespace, a control character (such as a line break) or a non-ASCII "
            "character; it was not sent. Set it to the subscription key exactly as the Comtrade portal shows "
            "it (printable ASCII, no spaces)"
        )


@dataclass
class ComtradeClient:
    """Comtrade v1 over reeflow.http.fetch: keyed (final data) with a key, else the public preview."""

    base_url: str
    max_records: int
    api_key: str | None = field(default=None, repr=False)  # never in a repr or traceback
    max_tries: int = 6
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 120.0
    timeout_seconds: float = 120.0
    pause_seconds: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    calls: int = 0
    max_answer_bytes: int | None = None  # config comtrade.max_answer_mb

    def __post_init__(self) -> None:
        check_base_url(self.base_url, "comtrade.base_url")
        check_api_key(self.api_key)

    @property
    def endpoint(self) -> str:
        return "data" if self.api_key else "preview"

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + (KEYED_PATH if self.api_key else KEYLESS_PATH)

    @property
    def availability_url(self) -> str:
        """The data-availability endpoint matching the data endpoint (keyed or public)."""
        return self.base_url.rstrip("/") + (AVAILABILITY_KEYED_PATH if self.api_key else AVAILABILITY_KEYLESS_PATH)

    def _secrets(self) -> list[str]:
        return [self.api_key] if self.api_key else []

    def request_url(self, params: Mapping[str, str], endpoint_url: str | None = None) -> str:
        """The full URL of a request as stored and reported; the key is a header, so never in it."""
        prepared = requests.Request("GET", endpoint_url or self.url, params=dict(params)).prepare()
        return scrub(str(prepared.url), self._secrets())

    def get(
        self, params: Mapping[str, str], endpoint_url: str | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One call (to the data endpoint unless ``endpoint_url`` says otherwise): the stored
        response (provenance + verbatim body) and its parsed records."""
        if self.calls and self.pause_seconds > 0:
            self.sleep(self.pause_seconds)  # courtesy pause between calls
        self.calls += 1
        url = self.request_url(params, endpoint_url)
        headers = {KEY_HEADER: self.api_key} if self.api_key else {}
        try:
            response = fetch(
                endpoint_url or self.url,
                params=params,
                headers=headers,
                timeout=self.timeout_seconds,
                max_tries=self.max_tries,
                backoff_seconds=self.backoff_seconds,
                max_backoff_seconds=self.max_backoff_seconds,
                session=self.session,
                secrets=self._secrets(),
                sleep=self.sleep,
                describe=f"Comtrade {url}",
                max_bytes=self.max_answer_bytes,
                limit_setting="comtrade.max_answer_mb",
            )
        except HttpError as err:
            if err.status in (401, 403):
                raise ReeflowError(
                    f"Comtrade {url}: HTTP {err.status}: the subscription key is missing, wrong or over its "
                    "quota; check COMTRADE_API_KEY (or unset it to use the public preview)"
                ) from None
            raise
        body = _decode_body(response.content, url, self._secrets())
        records = self._parse(body, url)
        stored = {
            "kind": "api",
            "url": url,
            "endpoint": self.endpoint,
            "params": dict(params),
            "retrieved_at": utc_now(),
            "status": response.status_code,
            "count": len(records),
            "sha256": sha256_bytes(response.content),
            "body": body,
        }
        return stored, records

    def _parse(self, body: str, url: str) -> list[dict[str, Any]]:
        secrets = self._secrets()
        if any(s in body for s in secrets):
            raise ReeflowError(f"Comtrade {url}: the answer echoes the subscription key; not storing it")
        try:
            return parse_envelope(body, f"Comtrade {url}")
        except ReeflowError as err:
            raise ReeflowError(scrub(str(err), secrets)) from None


def _decode_body(content: bytes, url: str, secrets: list[str]) -> str:
    """The answer as text; JSON is UTF-8 by definition, so anything else is not a Comtrade envelope."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as err:
        message = f"Comtrade {url}: answer is not UTF-8 text ({err.reason})"
        raise ReeflowError(scrub(message, secrets)) from None


def download_query(client: ComtradeClient, query: Query) -> list[dict[str, Any]]:
    """Stored responses answering ``query`` completely, splitting it while answers hit maxRecords.

    A truncated answer is dropped, not stored: only its complete halves are, so the union of the
    stored answers is exactly what Comtrade holds for the question."""
    stored, records = client.get(query.params(client.max_records))
    if len(records) < client.max_records:
        return [stored]
    halves = split_query(query)
    if halves is None:
        hint = (
            "list reporters in config comtrade.reporters so the request can be split"
            if query.reporters is None
            else "raise config comtrade.max_records_keyed (or use a key: the preview caps at 500)"
        )
        raise ReeflowError(
            f"Comtrade answer for {query.describe()} is truncated at maxRecords={client.max_records} "
            f"and cannot be split further; {hint}"
        )
    log.info("truncated at %d records (%s): splitting", client.max_records, query.describe())
    return [response for half in halves for response in download_query(client, half)]


def download_year(
    client: ComtradeClient,
    year: int,
    reporters: list[int] | None,
    flows: Sequence[str],
    cmd_codes: Sequence[str],
) -> list[dict[str, Any]]:
    """Every stored response for one year of the configured scope."""
    query = Query(
        year=int(year),
        reporters=None if reporters is None else tuple(reporters),
        flows=tuple(flows),
        cmd_codes=tuple(sorted(set(cmd_codes))),
    )
    responses = download_query(client, query)
    total = sum(r["count"] for r in responses)
    log.info(
        "Comtrade %s: %d records in %d answer(s) from %d call(s)", year, total, len(responses), client.calls
    )
    return responses


def availability_datasets(records: Iterable[Any]) -> list[dict[str, Any]]:
    """The fields of data-availability records that say whether a dataset changed, sorted.

    A record without reporter, period or release date cannot be compared and is left out."""
    kept = []
    for record in records:
        if not isinstance(record, dict) or any(record.get(f) in (None, "") for f in ("reporterCode", "period",
                                                                                       "lastReleased")):
            continue
        kept.append({f: record.get(f) for f in AVAILABILITY_FIELDS})
    return sorted(kept, key=lambda d: (str(d["period"]), int(d["reporterCode"]), str(d["classificationCode"])))


def fetch_availability(
    client: ComtradeClient, years: Sequence[int], reporters: Sequence[int] | None
) -> dict[str, Any]:
    """One call to the data-availability endpoint for ``years`` (None reporters = all): per
    reporter and period the release date and dataset checksum, with the call's provenance."""
    params = {"period": ",".join(str(int(y)) for y in sorted(set(years)))}
    if reporters is not None:
        params["reporterCode"] = ",".join(str(c) for c in sorted(set(reporters)))
    stored, records = client.get(params, endpoint_url=client.availability_url)
    return {
        "url": stored["url"],
        "retrieved_at": stored["retrieved_at"],
        "sha256": stored["sha256"],
        "datasets": availability_datasets(records),
    }


def availability_or_error(client: ComtradeClient, year: int, reporters: Sequence[int] | None) -> dict[str, Any]:
    """The availability of the year just downloaded, for its provenance; a failure only loses the
    record (`make update` then compares release dates with the download time), never the year."""
    try:
        return fetch_availability(client, [year], reporters)
    except (HttpError, ReeflowError) as err:
        message = scrub(str(err), client._secrets())
        log.warning("Comtrade %s: data availability not recorded (%s)", year, message)
        return {"error": message, "datasets": []}


# --------------------------------------------------------------------------------------------
# Local files


def _year_of(frame: pd.DataFrame) -> pd.Series:
    """Reference year of each record: refYear, or the period where refYear is absent."""
    year = pd.Series(np.nan, index=frame.index, dtype="float64")
    if "refYear" in frame.columns:
        year = pd.to_numeric(frame["refYear"], errors="coerce")
    if "period" in frame.columns:
        period = pd.to_numeric(frame["period"].astype(str).str.slice(0, 4), errors="coerce")
        year = year.fillna(period)
    return year


def select_records(
    frame: pd.DataFrame, year: int, cmd_codes: Iterable[str], flows: Iterable[str]
) -> pd.DataFrame:
    """Records of ``year`` for the codes in scope (exactly, or by their 4-digit heading) and flows."""
    if frame.empty:
        return frame
    codes = {str(c) for c in cmd_codes}
    cmd = frame["cmdCode"].astype(str).str.strip()
    keep = (_year_of(frame) == year) & (cmd.isin(codes) | cmd.str.slice(0, 4).isin(codes))
    keep &= frame["flowCode"].astype(str).str.strip().isin([str(f) for f in flows])
    return frame.loc[keep.fillna(False).astype(bool)]


def _json_value(value: Any) -> Any:
    """A plain JSON value: NaN/NA -> None, numpy scalars -> Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records_as_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-serialisable dicts, with every column kept (extra export columns included)."""
    columns = [str(c) for c in frame.columns]
    values = [frame[c].tolist() for c in frame.columns]
    return [{c: _json_value(v) for c, v in zip(columns, row)} for row in zip(*values)]


def _mtime_utc(path: str | os.PathLike[str]) -> str:
    return datetime.fromtimestamp(os.path.getmtime(path), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_local_year(
    files: Sequence[str | os.PathLike[str]], year: int, cmd_codes: Iterable[str], flows: Iterable[str]
) -> list[dict[str, Any]]:
    """One stored response per local file that holds records of ``year`` in scope.

    Local files are taken whole regardless of comtrade.reporters: whoever exported them chose the
    reporters, and dropping some here would silently hide data the user supplied."""
    codes, flow_list = list(cmd_codes), list(flows)
    responses = []
    for path in files:
        kept = select_records(read_comtrade_file(path), year, codes, flow_list)
        if kept.empty:
            continue
        responses.append(
            {
                "kind": "file",
                "path": str(path),
                "sha256": sha256_file(path),
                "retrieved_at": _mtime_utc(path),
                "format": Path(path).suffix.lower().lstrip("."),
                "count": int(len(kept)),
                "records": records_as_json(kept),
            }
        )
    return responses


# --------------------------------------------------------------------------------------------
# The year file


def client_from_settings(
    settings: ClientSettings,
    api_key: str | None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
    client_class: type[ComtradeClient] | None = None,
) -> ComtradeClient:
    """A client with the configured endpoint and limits (ComtradeScope.client, built from
    params.scope of comtrade_scope()); the tariff-line client shares them (``client_class``)."""
    return (client_class or ComtradeClient)(
        base_url=settings.base_url,
        max_records=settings.max_records,
        api_key=api_key or None,
        max_tries=settings.max_tries,
        backoff_seconds=settings.backoff_seconds,
        max_backoff_seconds=settings.max_backoff_seconds,
        timeout_seconds=settings.timeout_seconds,
        pause_seconds=settings.pause_seconds,
        sleep=sleep,
        session=session or requests.Session(),
        max_answer_bytes=int(settings.max_answer_mb * 2**20),
    )


def check_key_matches_plan(settings: ClientSettings, api_key: str | None) -> None:
    """Reporters and maxRecords were chosen for keyed or keyless use when the DAG was built."""
    if settings.keyed != bool(api_key):
        state = "set" if api_key else "unset"
        raise ReeflowError(
            f"COMTRADE_API_KEY is {state} now but was {'unset' if api_key else 'set'} when the workflow was "
            "planned (params.scope.keyed); export it (or not) consistently and rerun"
        )


def download_comtrade_year(
    output: str | os.PathLike[str],
    year: int,
    scope: ComtradeScope,
    files: Sequence[str | os.PathLike[str]] = (),
    api_key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
    record_availability: bool = False,
) -> dict[str, Any]:
    """Write the raw year file for ``year`` (atomically, only once everything has arrived).

    ``scope``: ComtradeScope.from_mapping(params.scope of comtrade_scope()). With
    ``record_availability`` (the workflow's downloads) one more call stores the year's data
    availability (release date and checksum per reporter) for `make update` to compare."""
    year = int(year)
    source = scope.source
    flows = list(scope.flows)
    cmd_codes = sorted(set(scope.cmd_codes))
    reporters_out: str | list[str] = scope.reporters if isinstance(scope.reporters, str) else list(scope.reporters)
    availability: dict[str, Any] | None = None
    if source == "api":
        check_key_matches_plan(scope.client, api_key)
        reporters = reporter_codes(reporters_out)
        if not api_key:
            log.info(
                "no COMTRADE_API_KEY: using the public preview (at most %s records per call) for "
                "reporters %s; a free key gives the global network",
                scope.client.max_records,
                reporters_out,
            )
        client = client_from_settings(scope.client, api_key, sleep=sleep, session=session)
        responses = download_year(client, year, reporters, flows, cmd_codes)
        if record_availability:
            availability = availability_or_error(client, year, reporters)
    elif source == "files":
        responses = read_local_year(files, year, cmd_codes, flows)
        if not responses:
            _missing_year(year, files, scope.allow_missing_years)
    else:
        raise ReeflowError(
            f"config comtrade.source '{source}': download_comtrade handles 'api' and 'files' only "
            "(BACI years come from the baci rules)"
        )
    raw = {
        "source": source,
        "year": year,
        "scope": {"reporters": reporters_out, "cmd_codes": cmd_codes, "flows": flows},
        "responses": responses,
    }
    if availability is not None:
        raw["availability"] = availability
    write_json_atomic(output, raw)
    return raw


def _missing_year(year: int, files: Sequence[str | os.PathLike[str]], allow: bool) -> None:
    message = (
        f"Comtrade {year}: none of the {len(files)} file(s) in config comtrade.files has a record of "
        "that year for the commodity codes and flows in scope; add an export covering it, narrow config "
        "years, or set comtrade.allow_missing_years: true"
    )
    if not allow:
        raise ReeflowError(message)
    log.warning("%s (allowed: writing the year with no responses)", message)
