"""Read cached raw Comtrade year files (``resources/raw/comtrade/{year}.json``) and local exports.

A raw year file holds the verbatim answers of the API (``body``) or the records read from local
files (``records``), each with its provenance; see docs/data-model.md. This module turns either
into one DataFrame of Comtrade v1 records, so cleaning never needs to know where they came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from reeflow.io import ReeflowError, loads_json, read_json

V1_FIELDS: tuple[str, ...] = (
    "typeCode", "freqCode", "refPeriodId", "refYear", "refMonth", "period", "reporterCode",
    "reporterISO", "reporterDesc", "flowCode", "flowDesc", "partnerCode", "partnerISO",
    "partnerDesc", "partner2Code", "partner2ISO", "partner2Desc", "classificationCode",
    "classificationSearchCode", "isOriginalClassification", "cmdCode", "cmdDesc", "aggrLevel",
    "isLeaf", "customsCode", "customsDesc", "mosCode", "motCode", "motDesc", "qtyUnitCode",
    "qtyUnitAbbr", "qty", "isQtyEstimated", "altQtyUnitCode", "altQtyUnitAbbr", "altQty",
    "isAltQtyEstimated", "netWgt", "isNetWgtEstimated", "grossWgt", "isGrossWgtEstimated",
    "cifvalue", "fobvalue", "primaryValue", "legacyEstimationFlag", "isReported", "isAggregate",
)  # fmt: skip

# Fields without which a record cannot be placed or measured.
ESSENTIAL_FIELDS: tuple[str, ...] = (
    "refYear", "reporterCode", "flowCode", "partnerCode", "cmdCode", "classificationCode",
    "qtyUnitCode", "qty", "netWgt", "primaryValue",
)  # fmt: skip

# Every field the trade cleaning reads (reeflow.clean.declarations: which records are totals, their
# countries, codes, tonnes, values and flags); the other 24 are never looked at, so the cleaning builds
# only these columns (a quarter less time at global scale; most of the rest is visiting each record).
CLEANING_FIELDS: tuple[str, ...] = (
    *ESSENTIAL_FIELDS, "typeCode", "freqCode", "partner2Code", "customsCode", "motCode",
    "isOriginalClassification", "qtyUnitAbbr", "isQtyEstimated", "altQty", "altQtyUnitCode",
    "isNetWgtEstimated", "cifvalue", "fobvalue",
)  # fmt: skip


def parse_envelope(text: str, where: str) -> list[dict[str, Any]]:
    """Records of a Comtrade v1 JSON envelope; anything else is an error naming ``where``."""
    stripped = text.lstrip()
    if not stripped:
        raise ReeflowError(f"{where}: empty answer where a Comtrade JSON envelope was expected")
    if stripped.startswith("<"):
        raise ReeflowError(
            f"{where}: an HTML page where a Comtrade JSON envelope was expected "
            "(maintenance page or wrong base_url?)"
        )
    try:
        envelope = loads_json(text)
    except json.JSONDecodeError as err:
        raise ReeflowError(f"{where}: malformed JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(envelope, dict):
        kind = type(envelope).__name__
        raise ReeflowError(f"{where}: JSON {kind} where a Comtrade envelope (an object) was expected")
    error = envelope.get("error")
    if error:  # checked first: an error answer may carry no 'data' at all
        raise ReeflowError(f"{where}: Comtrade answered with an error: {str(error)[:300]}")
    if "data" not in envelope:
        raise ReeflowError(f"{where}: JSON without the 'data' list of a Comtrade envelope")
    data = envelope["data"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise ReeflowError(f"{where}: field 'data' is {type(data).__name__}, expected a list")
    return data


def read_comtrade_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A Comtrade v1 CSV export: the 47 columns, extra columns allowed, ISO/desc columns may be empty."""
    frame = pd.read_csv(path, dtype={"cmdCode": str, "classificationCode": str}, keep_default_na=True)
    _check_fields(frame.columns, path)
    return frame


def read_comtrade_json(path: str | os.PathLike[str]) -> pd.DataFrame:
    text = Path(path).read_text(encoding="utf-8-sig")
    records = parse_envelope(text, str(path))
    frame = pd.DataFrame.from_records(records)
    if not frame.empty:
        _check_fields(frame.columns, path)
    return frame


def read_comtrade_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A local Comtrade export, by its extension (.json envelope or .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return read_comtrade_json(path)
    if suffix == ".csv":
        return read_comtrade_csv(path)
    raise ReeflowError(f"{path}: unknown Comtrade file type '{suffix}'; use .json (v1 envelope) or .csv")


def _check_fields(columns: Any, path: str | os.PathLike[str]) -> None:
    missing = [f for f in ESSENTIAL_FIELDS if f not in set(columns)]
    if missing:
        raise ReeflowError(
            f"{path}: missing Comtrade v1 column(s) {missing}; export with the v1 API's field names"
        )


@lru_cache(maxsize=1)
def _load_raw_year(path: str, mtime_ns: int, size: int) -> Any:
    return read_json(path)


def load_raw_year(raw_year_path: str | os.PathLike[str]) -> Any:
    """A raw year file, parsed once per process even when several steps read it (records, provenance):
    at global scale a year is a few hundred MB of JSON. Keyed by modification time and size, so a
    rewritten file is read again. Callers must not modify the returned object."""
    stat = os.stat(raw_year_path)
    return _load_raw_year(str(raw_year_path), stat.st_mtime_ns, stat.st_size)


def comtrade_records(raw_year_path: str | os.PathLike[str], fields: Sequence[str] | None = None) -> pd.DataFrame:
    """All records of a raw year file as one DataFrame, with ``response_index`` for provenance.

    ``fields``: only these v1 fields (e.g. ``CLEANING_FIELDS``), each where a record of the response
    has it, typed as if all fields were read; None keeps every field, extra export columns included."""
    raw = load_raw_year(raw_year_path)
    frames = []
    for index, response in enumerate(raw.get("responses", [])):
        if "body" in response:
            records = parse_envelope(response["body"], f"{raw_year_path} response {index}")
        else:
            records = response.get("records", [])
        frame = _records_frame(records, fields)
        if not len(frame.index):
            continue
        frame["response_index"] = index
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*(V1_FIELDS if fields is None else fields), "response_index"])
    records = pd.concat(frames, ignore_index=True)
    _check_fields(records.columns, raw_year_path)
    records["cmdCode"] = records["cmdCode"].astype(str)
    return records


def _records_frame(records: list[dict[str, Any]], fields: Sequence[str] | None) -> pd.DataFrame:
    """One response's records; with ``fields``, only those present in at least one record (a field
    no record has stays absent, as when every field is read), in the rows of every record."""
    if fields is None:
        return pd.DataFrame.from_records(records)
    present = [field for field in fields if any(field in record for record in records)]
    if not present and any(records):  # records without any wanted field still count as rows
        return pd.DataFrame(index=pd.RangeIndex(len(records)))
    return pd.DataFrame.from_records(records, columns=present)
