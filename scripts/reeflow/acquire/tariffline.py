"""UN Comtrade tariff-line data (national 8-10 digit lines) as a raw source beside HS6.

One raw file per year, ``resources/raw/tariffline/{year}.json``, in the layout of the Comtrade raw
year files (see reeflow.acquire.comtrade): the API's answers verbatim (``body``) or the rows of local files
(``records``), each with its provenance. ``reeflow.acquire.tariffline.tariffline_records`` turns either into
Comtrade v1-like records. Tariff lines are supplementary: a year that no local file covers is
written empty with a warning, never an error.

The API part reuses reeflow.acquire.comtrade's client (retries, back-off, Retry-After, splitting answers
that hit maxRecords; the key only in the Ocp-Apim-Subscription-Key header and scrubbed from every
message). Endpoints and query parameters follow UN Comtrade's own client (comtradeapicall,
previewTarifflineData / getTarifflineData): ``/public/v1/previewTariffline/C/A/HS`` without a key
(500 records a call) and ``/data/v1/getTariffline/C/A/HS`` with one. cmdCode there selects every
national line that starts with the given HS code ("commodity codes started with 90 and 91").
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pycountry
import requests

from reeflow.acquire import comtrade
from reeflow.acquire.comtrade import (
    ComtradeClient,
    Query,
    _mtime_utc,
    comtrade_code_from_iso3,
    download_query,
    records_as_json,
)
from reeflow.acquire.raw import load_raw_year, parse_envelope
from reeflow.clean.hs import revision_from_year
from reeflow.io import ReeflowError, sha256_file, write_json_atomic
from reeflow.settings import ClientSettings, TarifflineScope

log = logging.getLogger(__name__)

TARIFFLINE_KEYED_PATH = "/data/v1/getTariffline/C/A/HS"
TARIFFLINE_KEYLESS_PATH = "/public/v1/previewTariffline/C/A/HS"
TARIFFLINE_AVAILABILITY_KEYED_PATH = "/data/v1/getDaTariffline/C/A/HS"
TARIFFLINE_AVAILABILITY_KEYLESS_PATH = "/public/v1/getDATariffline/C/A/HS"

# How a source numbers partners: ISO 3166-1 numeric (USA 840) or Comtrade's own codes (USA 842).
PARTNER_CODE_SYSTEMS: tuple[str, ...] = ("iso_numeric", "comtrade")

# Columns of reeflow.acquire.tariffline.tariffline_records (before response_index), in this order.
TARIFFLINE_COLUMNS: tuple[str, ...] = (
    "refYear", "period", "reporterCode", "partnerCode", "flowCode", "cmdCode", "classificationCode",
    "netWgt", "qty", "qtyUnitCode", "primaryValue", "partner2Code", "customsCode", "motCode",
    "freqCode", "typeCode", "isTariffLine",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Partner codes


def comtrade_partner_code(code: int, system: str) -> int:
    """The Comtrade numeric code of a partner numbered in ``system`` ("iso_numeric" or "comtrade").

    Comtrade codes are returned as they are. An ISO 3166-1 numeric code of a current country becomes
    the code Comtrade uses for that country (USA 840 -> 842, France 250 -> 251, India 356 -> 699,
    Italy 380 -> 381, Norway 578 -> 579, Switzerland 756 -> 757, Taiwan 158 -> 490 "Other Asia,
    nes"), via reeflow.acquire.comtrade.comtrade_code_from_iso3, the inverse of reeflow.countries'
    Comtrade table. A code that is no current ISO country (0 World, 899 Areas nes, or a Comtrade
    code such as 699 or 757 that a collector passed through) is kept: it already is Comtrade's.
    """
    code = int(code)
    if system == "comtrade":
        return code
    if system != "iso_numeric":
        raise ReeflowError(f"partner_codes '{system}' is not one of {list(PARTNER_CODE_SYSTEMS)}")
    country = pycountry.countries.get(numeric=f"{code:03d}") if 0 < code < 1000 else None
    if country is None:
        return code
    try:
        return comtrade_code_from_iso3(country.alpha_3)
    except ReeflowError:  # an ISO country Comtrade has no code for: keep the ISO code
        return code


# --------------------------------------------------------------------------------------------
# Records shaped like Comtrade v1


def _where(source: str, field: str) -> str:
    return f"{source}: field '{field}'"


def _numbers(frame: pd.DataFrame, field: str, where: str) -> pd.Series:
    """A numeric field; text that is not a number is an error naming the field."""
    raw = frame[field]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
    if bad.any():
        example = raw[bad].iloc[0]
        raise ReeflowError(f"{_where(where, field)} holds {int(bad.sum())} non-numeric value(s), e.g. {example!r}")
    return values.astype("float64")


def _cmd_codes(values: pd.Series, where: str) -> pd.Series:
    """Commodity codes as digit strings with their leading zeros (ints from JSON become text)."""

    def text(value: Any) -> Any:
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        if isinstance(value, int | np.integer):
            return str(int(value))
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()

    codes = values.map(text)
    bad = ~codes.fillna("").str.fullmatch(r"\d{2,12}")
    if bad.any():
        raise ReeflowError(
            f"{_where(where, 'cmdCode')}: {int(bad.sum())} value(s) are not a commodity code of digits, "
            f"e.g. {values[bad].iloc[0]!r}"
        )
    return codes.astype(str)


def record_years(frame: pd.DataFrame, where: str) -> pd.Series:
    """Reference year of each row: refYear, else the first four digits of period."""
    if "refYear" not in frame.columns and "period" not in frame.columns:
        raise ReeflowError(f"{where}: missing field 'refYear' (or 'period'): the year of each row")
    year = pd.Series(np.nan, index=frame.index, dtype="float64")
    if "refYear" in frame.columns:
        year = _numbers(frame, "refYear", where)
    if "period" in frame.columns:
        period = pd.to_numeric(frame["period"].astype("string").str.strip().str.slice(0, 4), errors="coerce")
        year = year.fillna(period.astype("float64"))
    if year.isna().any():
        raise ReeflowError(
            f"{where}: field 'refYear'/'period' is missing or not a year in {int(year.isna().sum())} row(s)"
        )
    return year.astype("int64")


def _default_column(frame: pd.DataFrame, field: str, default: Any, where: str, hint: str) -> pd.Series:
    """A field filled from ``default`` where rows lack it; an error if some still lack it."""
    values = frame[field] if field in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    missing = values.isna() | (values.astype("string").str.strip() == "").fillna(True)
    if missing.any():
        if default is None:
            raise ReeflowError(f"{_where(where, field)} is missing in {int(missing.sum())} row(s); {hint}")
        values = values.astype(object).where(~missing, default)
    return values


def v1_like(
    frame: pd.DataFrame,
    where: str,
    partner_codes: str,
    reporter: str | int | None = None,
    flow: str | None = None,
) -> pd.DataFrame:
    """Rows of a tariff-line source as Comtrade v1-like records (see reeflow.acquire.tariffline.tariffline_records).

    ``reporter`` (ISO3, or a Comtrade code) and ``flow`` fill rows that lack reporterCode or
    flowCode (the collector format has neither); ``partner_codes`` says how partnerCode is numbered."""
    if partner_codes not in PARTNER_CODE_SYSTEMS:
        raise ReeflowError(
            f"{_where(where, 'partner_codes')}: '{partner_codes}' is not one of {list(PARTNER_CODE_SYSTEMS)}"
        )
    columns = list(TARIFFLINE_COLUMNS)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for field in ("cmdCode", "partnerCode", "primaryValue", "netWgt"):
        if field not in frame.columns:
            raise ReeflowError(f"{where}: missing field '{field}' (tariff-line rows need {field})")
    year = record_years(frame, where)

    reporter_default = None
    if isinstance(reporter, int) or (isinstance(reporter, str) and reporter.strip().isdigit()):
        reporter_default = int(reporter)
    elif reporter:
        reporter_default = comtrade_code_from_iso3(reporter)
    reporters = _default_column(
        frame, "reporterCode", reporter_default, where, "declare the reporter (ISO3) of this source"
    )
    reporter_codes = pd.to_numeric(reporters, errors="coerce")
    if reporter_codes.isna().any():
        raise ReeflowError(f"{_where(where, 'reporterCode')} is not a numeric Comtrade code in some row(s)")
    flows = _default_column(frame, "flowCode", flow, where, "declare the flow (M or X) of this source")
    flows = flows.astype("string").str.strip().str.upper()

    partners = _numbers(frame, "partnerCode", where)
    if partners.isna().any() or not (partners == partners.round()).all() or (partners < 0).any():
        raise ReeflowError(f"{_where(where, 'partnerCode')} is missing or not a whole code in some row(s)")
    partner_code = partners.astype("int64").map(lambda c: comtrade_partner_code(c, partner_codes))

    out = pd.DataFrame(index=frame.index)
    out["refYear"] = year
    out["period"] = year.astype(str)
    out["reporterCode"] = reporter_codes.astype("int64")
    out["partnerCode"] = partner_code.astype("int64")
    out["flowCode"] = flows.astype(object)
    out["cmdCode"] = _cmd_codes(frame["cmdCode"], where)
    if "classificationCode" in frame.columns:
        classification = frame["classificationCode"].astype("string").str.strip().str.upper()
    else:
        classification = pd.Series(pd.NA, index=frame.index, dtype="string")
    # Absent: the HS revision in force that year (H6 from 2022), as reeflow.clean.hs fills v1 records.
    fallback = year.map(revision_from_year)
    out["classificationCode"] = classification.where(classification.notna() & (classification != ""), fallback)
    out["classificationCode"] = out["classificationCode"].astype(object)
    for field in ("netWgt", "qty", "primaryValue"):
        values = (
            _numbers(frame, field, where)
            if field in frame.columns
            else pd.Series(np.nan, index=frame.index, dtype="float64")
        )
        negative = values < 0
        if negative.any():
            raise ReeflowError(
                f"{_where(where, field)} is negative in {int(negative.sum())} row(s), e.g. {values[negative].iloc[0]}; "
                "quantities and values cannot be negative"
            )
        out[field] = values
    out["qtyUnitCode"] = _numbers(frame, "qtyUnitCode", where) if "qtyUnitCode" in frame.columns else np.nan
    # Totals over partner2, customs procedure and transport mode, unless a row says otherwise
    # (then the cleaner's totals filter sees it).
    for field, default in (("partner2Code", 0), ("customsCode", "C00"), ("motCode", 0),
                           ("freqCode", "A"), ("typeCode", "C")):  # fmt: skip
        values = frame[field] if field in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        out[field] = values.astype(object).where(values.notna(), default)
    out["partner2Code"] = pd.to_numeric(out["partner2Code"], errors="coerce").fillna(0).astype("int64")
    out["motCode"] = pd.to_numeric(out["motCode"], errors="coerce").fillna(0).astype("int64")
    out["isTariffLine"] = True
    return out[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Local files


def read_tariffline_file(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of a local tariff-line file and what it says about itself.

    Formats: the collector's JSON ``{"source", "fetched", "rows"}``, a Comtrade v1 JSON envelope
    (``{"data": [...]}``), or a CSV with v1 column names."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype={"cmdCode": str, "classificationCode": str, "flowCode": str})
        except (ValueError, pd.errors.ParserError) as err:
            raise ReeflowError(f"{path}: not a readable CSV ({err})") from None
        return frame, {"format": "csv", "fetched": None, "declared_source": None}
    if suffix != ".json":
        raise ReeflowError(f"{path}: unknown tariff-line file type '{suffix}'; use .json or .csv")
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReeflowError(f"{path}: malformed JSON ({err.msg} at line {err.lineno})") from None
    if isinstance(document, dict) and "rows" in document:
        rows = document["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ReeflowError(f"{path}: field 'rows' must be a list of objects (one per tariff-line row)")
        meta = {
            "format": "collector",
            "fetched": document.get("fetched"),
            "declared_source": document.get("source"),
        }
        return pd.DataFrame.from_records(rows), meta
    if isinstance(document, dict) and ("data" in document or "error" in document):
        records = parse_envelope(text, str(path))
        if not all(isinstance(r, dict) for r in records):
            raise ReeflowError(f"{path}: field 'data' must be a list of objects")
        return pd.DataFrame.from_records(records), {"format": "envelope", "fetched": None, "declared_source": None}
    raise ReeflowError(
        f"{path}: neither a tariff-line collector file (an object with 'rows') nor a Comtrade envelope "
        "(an object with 'data')"
    )


def in_scope(rows: pd.DataFrame, year: int, hs6: Iterable[str], flows: Iterable[str]) -> pd.Series:
    """Rows of ``year`` whose line starts with one of the ``hs6`` parents and whose flow is in scope."""
    prefixes = tuple(str(c) for c in hs6)
    keep = (rows["refYear"] == year) & rows["cmdCode"].str.startswith(prefixes)
    keep &= rows["flowCode"].isin([str(f) for f in flows])
    return keep.astype(bool)


def read_local_year(
    entries: Sequence[Mapping[str, Any]], year: int, hs6: Sequence[str], flows: Sequence[str]
) -> list[dict[str, Any]]:
    """One stored response per local file that holds rows of ``year`` in scope.

    Each entry is {path, reporter, flow, partner_codes}; rows are checked (fields, codes,
    non-negative quantities) before anything is stored, and kept verbatim."""
    responses = []
    for entry in entries:
        path = str(entry["path"])
        partner_codes = str(entry.get("partner_codes", ""))
        frame, meta = read_tariffline_file(path)
        if frame.empty:
            continue
        rows = v1_like(frame, path, partner_codes, entry.get("reporter"), entry.get("flow"))
        keep = in_scope(rows, year, hs6, flows).to_numpy()
        if not keep.any():
            continue
        kept = frame.loc[keep]
        log.info("tariff lines %s: %d of %d row(s) of %s", year, len(kept), len(frame), path)
        responses.append(
            {
                "kind": "file",
                "path": path,
                "sha256": sha256_file(path),
                "retrieved_at": _mtime_utc(path),
                "fetched": meta["fetched"],
                "declared_source": meta["declared_source"],
                "format": meta["format"],
                "reporter": entry.get("reporter"),
                "flow": entry.get("flow"),
                "partner_codes": partner_codes,
                "count": int(len(kept)),
                "records": records_as_json(kept),
            }
        )
    return responses


def expand_file_entries(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """config comtrade.tariffline.files with each glob expanded: one entry per file, sorted."""
    found: list[dict[str, Any]] = []
    for entry in entries:
        matches = sorted(f for f in glob.glob(str(entry["path"]), recursive=True) if os.path.isfile(f))
        for match in matches:
            found.append({**dict(entry), "pattern": str(entry["path"]), "path": match})
    return found


# --------------------------------------------------------------------------------------------
# The API


class TarifflineQuery(Query):
    """A Comtrade question for tariff lines: cmdCode holds HS6/HS4 parents of the national lines."""

    def params(self, max_records: int) -> dict[str, str]:
        """Parameters of previewTariffline/getTariffline: those of v1 without breakdownMode and
        aggregateBy, which the tariff-line endpoints do not take. partner2Code 0, customsCode C00 and
        motCode 0 ask for totals as for v1; that the tariff-line data carry these totals is the v1
        convention, not confirmed for tariff lines (the endpoints list them as optional filters)."""
        params = super().params(max_records)
        params.pop("breakdownMode", None)
        return params


@dataclass
class TarifflineClient(ComtradeClient):
    """ComtradeClient on the tariff-line endpoints (same retries, splitting and key handling)."""

    @property
    def endpoint(self) -> str:
        return "getTariffline" if self.api_key else "previewTariffline"

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + (TARIFFLINE_KEYED_PATH if self.api_key else TARIFFLINE_KEYLESS_PATH)

    @property
    def availability_url(self) -> str:
        paths = (TARIFFLINE_AVAILABILITY_KEYED_PATH, TARIFFLINE_AVAILABILITY_KEYLESS_PATH)
        return self.base_url.rstrip("/") + (paths[0] if self.api_key else paths[1])


def _reporter_codes(reporters: Sequence[str]) -> list[int]:
    codes = []
    for iso3 in reporters:
        try:
            codes.append(comtrade_code_from_iso3(iso3))
        except ReeflowError:
            raise ReeflowError(
                f"config comtrade.tariffline.reporters: '{iso3}' is not an ISO 3166-1 alpha-3 country code "
                "that Comtrade reports under"
            ) from None
    if not codes:
        raise ReeflowError("config comtrade.tariffline.reporters: empty list; give ISO3 codes such as [CHN]")
    return sorted(set(codes))


def download_api_year(
    client: TarifflineClient, year: int, reporters: Sequence[str], flows: Sequence[str], hs6: Sequence[str]
) -> list[dict[str, Any]]:
    """Every stored answer for one year, split while answers hit maxRecords."""
    query = TarifflineQuery(
        year=int(year),
        reporters=tuple(_reporter_codes(reporters)),
        flows=tuple(flows),
        cmd_codes=tuple(sorted({str(c) for c in hs6})),
    )
    responses = download_query(client, query)
    for response in responses:
        response["partner_codes"] = "comtrade"  # the API numbers partners as Comtrade does
    total = sum(r["count"] for r in responses)
    log.info(
        "Comtrade tariff lines %s: %d records in %d answer(s) from %d call(s)",
        year, total, len(responses), client.calls,
    )  # fmt: skip
    return responses


def client_from_settings(
    settings: ClientSettings,
    api_key: str | None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> TarifflineClient:
    """The tariff-line client with the configured limits (the same settings as the HS client)."""
    client = comtrade.client_from_settings(settings, api_key, sleep, session, client_class=TarifflineClient)
    return client  # type: ignore[return-value]  # built as client_class


# --------------------------------------------------------------------------------------------
# The year file


def download_tariffline_year(
    output: str | os.PathLike[str],
    year: int,
    scope: TarifflineScope,
    api_key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
    record_availability: bool = False,
) -> dict[str, Any]:
    """Write the raw tariff-line file of ``year`` atomically (with ``record_availability``, as in the
    workflow, plus one call storing the year's data availability for `make update`).

    ``scope``: TarifflineScope.from_mapping(params.scope of tariffline_scope()): source (api | files
    | none), reporters (ISO3), hs6, flows, files (source files; entries already expanded: {path,
    reporter, flow, partner_codes}), and the client settings (source api)."""
    year = int(year)
    source = scope.source
    hs6 = sorted(set(scope.hs6))
    flows = list(scope.flows)
    availability: dict[str, Any] | None = None
    if source == "api":
        if scope.client is None:
            raise ReeflowError("config comtrade.tariffline: source api needs the client settings of config comtrade")
        comtrade.check_key_matches_plan(scope.client, api_key)
        if not api_key:
            log.info(
                "no COMTRADE_API_KEY: tariff lines from the public preview (%s records a call)",
                scope.client.max_records,
            )
        client = client_from_settings(scope.client, api_key, sleep=sleep, session=session)
        responses = download_api_year(client, year, list(scope.reporters), flows, hs6)
        if record_availability:
            availability = comtrade.availability_or_error(client, year, _reporter_codes(list(scope.reporters)))
    elif source == "files":
        files = [dict(entry) for entry in scope.files]
        responses = read_local_year(files, year, hs6, flows)
        if not responses:
            log.warning(
                "tariff lines %s: none of the %d file(s) in config comtrade.tariffline.files has rows of that "
                "year for %s (flows %s); writing an empty raw file (tariff lines are supplementary)",
                year, len(files), hs6, flows,
            )  # fmt: skip
    elif source == "none":
        log.warning("tariff lines %s: comtrade.tariffline.source is none; writing an empty raw file", year)
        responses = []
    else:
        raise ReeflowError(f"config comtrade.tariffline.source '{source}': use api, files or none")
    raw = {
        "kind": "tariffline",
        "source": source,
        "year": year,
        "scope": {"reporters": list(scope.reporters), "hs6": hs6, "flows": flows},
        "responses": responses,
    }
    if availability is not None:
        raw["availability"] = availability
    write_json_atomic(output, raw)
    return raw


# --------------------------------------------------------------------------------------------
# Raw year file -> records


def tariffline_records(raw_year_path: str | os.PathLike[str]) -> pd.DataFrame:
    """All records of a raw tariff-line year file (``resources/raw/tariffline/{year}.json``) as
    Comtrade v1-like records, with ``response_index`` for provenance.

    Columns (reeflow.acquire.tariffline.TARIFFLINE_COLUMNS): refYear (int), period, reporterCode and
    partnerCode (Comtrade numeric codes: ISO numeric partners are converted where the source declares
    partner_codes: iso_numeric; rows without a reporter take the source's declared ISO3), flowCode,
    cmdCode (digit string, leading zeros kept), classificationCode (the HS revision in force that year
    where absent: H6 from 2022), netWgt, qty, qtyUnitCode, primaryValue, partner2Code (0), customsCode
    ("C00"), motCode (0), freqCode ("A"), typeCode ("C") where the rows do not say, and
    isTariffLine=True. Several rows of one partner, line and year are all kept (the cleaner sums
    them). A malformed file is a ReeflowError naming the file and the field."""
    raw = load_raw_year(raw_year_path)
    if not isinstance(raw, dict) or raw.get("kind") != "tariffline" or not isinstance(raw.get("responses"), list):
        raise ReeflowError(
            f"{raw_year_path}: not a raw tariff-line year file (an object with kind 'tariffline' and a "
            "'responses' list); rerun rule download_tariffline"
        )
    frames = []
    for index, response in enumerate(raw["responses"]):
        where = f"{raw_year_path} response {index}"
        if not isinstance(response, dict):
            raise ReeflowError(f"{where}: a {type(response).__name__} where a stored response (an object) was expected")
        if response.get("path"):
            where += f" ({response['path']})"
        params = response.get("params") or {}
        if "body" in response:
            records = parse_envelope(response["body"], where)
            partner_codes = response.get("partner_codes", "comtrade")
        elif "records" in response:
            records = response["records"]
            partner_codes = response.get("partner_codes")
            if partner_codes is None:
                raise ReeflowError(f"{where}: missing field 'partner_codes' (iso_numeric or comtrade)")
        else:
            raise ReeflowError(f"{where}: missing field 'body' (API answer) or 'records' (local file rows)")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ReeflowError(f"{where}: field 'records' must be a list of objects")
        reporter = response.get("reporter") or _single(params.get("reporterCode"))
        flow = response.get("flow") or _single(params.get("flowCode"))
        frame = v1_like(pd.DataFrame.from_records(records), where, str(partner_codes), reporter, flow)
        if frame.empty:
            continue
        frame["response_index"] = index
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*TARIFFLINE_COLUMNS, "response_index"])
    return pd.concat(frames, ignore_index=True)


def _single(listed: Any) -> str | None:
    """The one value of a comma-separated request parameter; None if absent or several."""
    if listed is None or "," in str(listed) or not str(listed).strip():
        return None
    return str(listed).strip()
