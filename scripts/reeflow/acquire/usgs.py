"""USGS rare-earth statistics: one parser per publication format, all into one long table.

USGS files drift between editions (column names, encodings, codes in number cells, footnote
markers glued to names), so each parser finds its columns by pattern, keeps every code (NA, W, E,
">95" ...) in a ``code`` column beside a NaN value instead of guessing a number, and fails with a
message naming the file and the missing column rather than returning a silently empty table.

Every parser returns the same long frame (``RECORD_COLUMNS``): ``table`` is ``production`` (mine
production by country, t REO; ``country`` WLD for world totals) or ``salient`` (US statistics,
kept to validate the trade data later).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pycountry

from reeflow.acquire.sciencebase import retrieve_item_file
from reeflow.countries import NAME_ALIASES, iso3_from_name
from reeflow.http import fetch
from reeflow.io import ReeflowError, sha256_bytes, utc_now, write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)

KINDS = ("mcs", "mcs_combined", "ds140", "myb", "myb_hhi", "table")
XLSX_KINDS = frozenset({"ds140", "myb"})
MINE_PRODUCTION = "mine_production"
UNIT_T_REO = "t REO"

RECORD_COLUMNS = [
    "table", "year", "country", "country_name", "commodity", "statistic", "value", "code", "unit",
    "estimated", "edition", "source",
]  # fmt: skip

# Codes printed in number cells. "--" (and dashes) means zero in USGS tables: value 0, code kept.
NULL_CODES = frozenset({"NA", "XX", "W", "E", "s", "Large", "na", "n.a."})
ZERO_CODES = frozenset({"--", "-", "—", "–", "– –"})
_NUMBER = re.compile(r"^(?P<cmp>[<>]=?)?\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<mark>[a-z]{1,2})?$")
_FOOTNOTE_MARKS = frozenset({"e", "r", "p", "er", "re"})


class ParsedValue(NamedTuple):
    """One printed cell: its number (NaN for a code), the code or footnote letter, estimated or not."""

    value: float
    code: str = ""
    estimated: bool = False


def parse_value(raw: Any) -> ParsedValue:
    """Read a USGS number cell: thousands separators, codes, "e"/"r" footnote letters.

    A code never becomes a number: "W" (withheld) is NaN with code "W", ">95" is NaN with code
    ">95" (a bound is not a value); only the USGS zero sign "--" becomes 0 (code "--")."""
    if raw is None:
        return ParsedValue(math.nan)
    if isinstance(raw, bool):
        raise ValueError(f"boolean {raw!r} is not a USGS number")
    if isinstance(raw, int | float):
        return ParsedValue(float(raw)) if not math.isnan(float(raw)) else ParsedValue(math.nan)
    text = str(raw).replace("\u00a0", " ").strip()
    if not text:
        return ParsedValue(math.nan)
    if text in ZERO_CODES:
        return ParsedValue(0.0, "--")
    if text in NULL_CODES:
        return ParsedValue(math.nan, text)
    compact = re.sub(r"(?<=\d)[,\s](?=\d{3}(?!\d))", "", text)
    match = _NUMBER.match(compact)
    if match is None or (match.group("mark") and match.group("mark") not in _FOOTNOTE_MARKS):
        return ParsedValue(math.nan, text[:24])
    if match.group("cmp"):
        return ParsedValue(math.nan, f"{match.group('cmp')}{match.group('num')}")
    mark = match.group("mark") or ""
    return ParsedValue(float(match.group("num")), mark, "e" in mark)


# --------------------------------------------------------------------------------------------
# Reading files: encodings, HTML pages, workbooks
# --------------------------------------------------------------------------------------------


def looks_like_html(data: bytes) -> bool:
    """Servers answer 200 with an HTML error or login page; such a body must never pass for data."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in head[:512]


def decode_text(data: bytes, path: str | Path) -> str:
    """UTF-8 (with or without BOM) first, cp1252 (MCS2026 combined release) as the fallback."""
    if looks_like_html(data):
        raise ReeflowError(
            f"{path}: is an HTML page, not a CSV file; the download URL probably points at a web page "
            "(fix the url in config usgs.urls, or download the file by hand and use usgs.source: files)"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_csv_text(path: str | Path) -> pd.DataFrame:
    """All cells as strings, blank rows and blank columns dropped, headers stripped.

    Read with the csv module rather than pandas so that trailing blank cells beyond the header
    (MCS2024 world file) are dropped instead of failing the whole file."""
    text = decode_text(Path(path).read_bytes(), path)
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as err:
        raise ReeflowError(f"{path}: not a readable CSV file ({err}); check that it is the right file") from err
    if not rows:
        raise ReeflowError(f"{path}: empty CSV file (no header row); check that it is the right file")
    header = [cell.strip() for cell in rows[0]]
    while header and not header[-1]:
        header.pop()
    if not header or len(header) != len(set(header)) or "" in header:
        raise ReeflowError(
            f"{path}: header row {rows[0][:8]!r} has blank or repeated column names; is this a CSV table?"
        )
    body = []
    for number, row in enumerate(rows[1:], start=2):
        if any(cell.strip() for cell in row[len(header) :]):
            raise ReeflowError(f"{path}: row {number} has more filled cells than the header has columns")
        body.append((row + [""] * len(header))[: len(header)])
    return pd.DataFrame(body, columns=header, dtype=str)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], path: str | Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReeflowError(
            f"{path}: column {', '.join(repr(m) for m in missing)} missing from this {what} "
            f"(found: {', '.join(frame.columns[:12])}); check the file kind in config usgs "
            "or whether USGS renamed the column in this edition"
        )


def load_workbook_rows(path: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values; openpyxl is used directly because USGS tables are laid out for print."""
    import zipfile

    import openpyxl

    data = Path(path).read_bytes()
    if looks_like_html(data):
        raise ReeflowError(f"{path}: is an HTML page, not an .xlsx workbook; fix the url in config usgs.urls")
    if not data.startswith(b"PK"):
        raise ReeflowError(f"{path}: not an .xlsx workbook (no zip signature); give the .xlsx file of this table")
    try:
        with warnings.catch_warnings():  # print-area and style warnings of USGS workbooks are noise
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise ReeflowError(f"{path}: unreadable .xlsx workbook ({err}); download it again") from err
    try:
        return {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book}
    finally:
        book.close()


# --------------------------------------------------------------------------------------------
# Editions and country names
# --------------------------------------------------------------------------------------------

_EDITION = re.compile(r"(mcs|myb|ds140)\d?\D{0,20}?(\d{4})", re.IGNORECASE)


def guess_edition(name: str, kind: str) -> str:
    """Edition from a file name ("mcs2023-raree_world.csv" -> MCS2023), else the kind in capitals."""
    match = _EDITION.search(name)
    if match:
        series = match.group(1).upper()
        return f"DS140-{match.group(2)}" if series == "DS140" else f"{series}{match.group(2)}"
    return kind.upper()


def edition_in_file(frame: pd.DataFrame, fallback: str) -> str:
    """The file's own DataSource/Source value (e.g. MCS2023) beats the configured or guessed one."""
    for column in ("DataSource", "Source"):
        if column in frame.columns:
            values = {v.strip() for v in frame[column].astype(str) if re.fullmatch(r"\s*[A-Z]+\d{4}\s*", v)}
            if len(values) == 1:
                return values.pop()
    return fallback


def _exact_iso3(name: str) -> str | None:
    """Alias or exact pycountry match only: no fuzzy search, so "Australiae" does not pass as a name."""
    key = re.sub(r"\s+", " ", name).strip().lower()
    if key in NAME_ALIASES:
        return NAME_ALIASES[key]
    try:
        return pycountry.countries.lookup(key).alpha_3
    except LookupError:
        return None


def split_footnotes(name: str) -> tuple[str, str]:
    """Yearbook names carry footnote digits and an "e" (estimated) glued on: "Indiae, 4" -> India, e."""
    text = re.sub(r"[\s,\d]+$", "", str(name).replace("\u00a0", " ")).strip()
    if _exact_iso3(text) is None and text[-1:] in ("e", "r") and _exact_iso3(text[:-1]) is not None:
        return text[:-1], text[-1]
    return text, ""


def country_code(name: str, path: str | Path) -> str:
    code = iso3_from_name(name)
    if code is None:
        raise ReeflowError(
            f"{path}: country {name!r} has no ISO3 code; add it to NAME_ALIASES in "
            "scripts/reeflow/countries.py (lower-case name -> ISO3)"
        )
    return code


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    frame["year"] = frame["year"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["estimated"] = frame["estimated"].astype(bool)
    for column in (
        "table",
        "country",
        "country_name",
        "commodity",
        "statistic",
        "code",
        "unit",
        "edition",
        "source",
    ):
        frame[column] = frame[column].fillna("").astype("string")
    return frame


# --------------------------------------------------------------------------------------------
# MCS data-release CSVs: salient statistics and world production (one file each)
# --------------------------------------------------------------------------------------------

_PROD_COLUMN = re.compile(r"^Prod_t_(?:(?P<est>est)_)?(?P<year>\d{4})$", re.IGNORECASE)
_UNIT_SUFFIX = {"t": "t", "pct": "percent", "num": "number", "m": "number", "dkg": "USD/kg", "dg": "USD/g",
                "dt": "USD/t", "kg": "kg"}  # fmt: skip
_PREFIX = {"usprod": "production", "imports": "imports", "exports": "exports", "consump": "consumption",
           "nir": "nir", "price": "price", "employment": "employment", "stocks": "stocks"}  # fmt: skip


def salient_statistic(column: str) -> tuple[str, str]:
    """Stable (statistic, unit) from an MCS salient column, whatever the edition's suffix drift.

    ``NIR_..._pct`` and ``NIR_..._t`` (a mislabelled percent in some editions) both give
    (nir_..., percent); ``Employment_num`` and ``Employment_m`` both give (employment, number)."""
    parts = column.split("_")
    unit = ""
    if len(parts) > 1 and parts[-1].lower() in _UNIT_SUFFIX:
        unit = _UNIT_SUFFIX[parts[-1].lower()]
        parts = parts[:-1]
    head = _PREFIX.get(parts[0].lower(), parts[0].lower())
    rest = [re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_") for p in parts[1:]]
    statistic = "_".join([head, *[r for r in rest if r]])
    if head == "nir":
        unit = "percent"
    elif head == "employment":
        unit = "number"
    return statistic, unit


def parse_mcs(path: str | Path, edition: str = "") -> pd.DataFrame:
    """An MCS per-commodity CSV: a salient file (Year column) or a world file (Prod_t_* columns), or
    the MCS2025-style world file of all commodities (COMMODITY, COUNTRY, TYPE, PROD_YYYY columns)."""
    frame = read_csv_text(path)
    edition = edition_in_file(frame, edition or guess_edition(Path(path).name, "mcs"))
    if {"COMMODITY", "COUNTRY", "TYPE"} <= set(frame.columns):
        return _parse_mcs_world_all(frame, path, edition)
    if "Year" in frame.columns:
        return _parse_mcs_salient(frame, path, edition)
    if any(_PROD_COLUMN.match(c) for c in frame.columns) or "Country" in frame.columns:
        return _parse_mcs_world(frame, path, edition)
    raise ReeflowError(
        f"{path}: column 'Year' (salient file) or 'Country' with 'Prod_t_YYYY' (world file) missing; "
        f"found {', '.join(frame.columns[:12])}; is this an MCS data-release CSV (kind mcs)?"
    )


def _parse_mcs_salient(frame: pd.DataFrame, path: str | Path, edition: str) -> pd.DataFrame:
    require_columns(frame, ["Year", "Commodity"], path, "MCS salient file")
    stats = [c for c in frame.columns if c not in ("DataSource", "Source", "Commodity", "Year") and c]
    rows = []
    for record in frame.to_dict("records"):
        year = _year(record["Year"], path)
        for column in stats:
            value, code, estimated = parse_value(record[column])
            if math.isnan(value) and not code:
                continue
            statistic, unit = salient_statistic(column)
            rows.append({"table": "salient", "year": year, "country": "USA", "country_name": "United States",
                         "commodity": record["Commodity"].strip(), "statistic": statistic, "value": value,
                         "code": code, "unit": unit, "estimated": estimated, "edition": edition,
                         "source": Path(path).name})  # fmt: skip
    return _frame(rows)


def _parse_mcs_world(frame: pd.DataFrame, path: str | Path, edition: str) -> pd.DataFrame:
    require_columns(frame, ["Country"], path, "MCS world-production file")
    prod_columns = [(c, _PROD_COLUMN.match(c)) for c in frame.columns]
    prod_columns = [(c, m) for c, m in prod_columns if m]
    if not prod_columns:
        raise ReeflowError(
            f"{path}: column 'Prod_t_YYYY' (or 'Prod_t_est_YYYY') missing from this MCS world-production "
            f"file (found: {', '.join(frame.columns[:12])}); check whether USGS renamed it"
        )
    rows = []
    for record in frame.to_dict("records"):
        name = record["Country"].strip()
        if not name:
            continue
        notes = record.get("Prod_notes", "") or ""
        for column, match in prod_columns:
            year = int(match.group("year"))
            value, code, estimated = parse_value(record[column])
            if math.isnan(value) and not code:
                continue
            estimated = estimated or bool(match.group("est")) or f"estimated in {year}" in notes.lower()
            rows.append({"table": "production", "year": year, "country": country_code(name, path),
                         "country_name": name, "commodity": "Rare Earths", "statistic": MINE_PRODUCTION,
                         "value": value, "code": code, "unit": UNIT_T_REO, "estimated": estimated,
                         "edition": edition, "source": Path(path).name})  # fmt: skip
    return _frame(rows)


_WIDE_PROD_COLUMN = re.compile(r"^PROD_(?:(?P<est>EST)_\s*)?(?P<year>\d{4})$", re.IGNORECASE)


def _parse_mcs_world_all(frame: pd.DataFrame, path: str | Path, edition: str) -> pd.DataFrame:
    """The MCS2025-style world file of all commodities (``MCS2025_World_Data.csv``): one row per
    commodity x country x TYPE, production in ``PROD_YYYY`` / ``PROD_EST_ YYYY`` columns.

    Only the rare-earth mine-production rows are kept; more than one such TYPE would be counted
    twice, so it is an error rather than a guess."""
    prod_columns = [(c, m) for c in frame.columns if (m := _WIDE_PROD_COLUMN.match(c))]
    if not prod_columns:
        raise ReeflowError(
            f"{path}: no 'PROD_YYYY' (or 'PROD_EST_ YYYY') column in this MCS world file of all commodities "
            f"(found: {', '.join(frame.columns[:14])}); check whether USGS renamed them"
        )
    commodity = frame["COMMODITY"].str.strip().str.lower()
    kind = frame["TYPE"].str.strip().str.lower()
    frame = frame[commodity.isin({"rare earths", "rare-earth elements"}) & kind.str.startswith("mine production")]
    types = sorted(set(frame["TYPE"].str.strip()))
    if not types:
        raise ReeflowError(
            f"{path}: no rows with COMMODITY 'Rare earths' and TYPE 'Mine production...' in this MCS world "
            "file of all commodities; check the file (config usgs.urls) or whether USGS renamed them"
        )
    if len(types) > 1:
        raise ReeflowError(
            f"{path}: several rare-earth mine-production TYPEs ({'; '.join(types)}); they would be counted "
            "twice: extend _parse_mcs_world_all in scripts/reeflow/acquire/usgs.py to choose one"
        )
    units = {u.strip().lower() for u in frame.get("UNIT_MEAS", pd.Series(dtype=str))} - {""}
    if units - {"metric tons"}:
        raise ReeflowError(f"{path}: rare-earth production in {sorted(units)}, expected metric tons (REO)")
    rows = []
    for record in frame.to_dict("records"):
        name = record["COUNTRY"].strip()
        if not name:
            continue
        notes = str(record.get("PROD_NOTES", "") or "").lower()
        for column, match in prod_columns:
            year = int(match.group("year"))
            value, code, estimated = parse_value(record[column])
            if math.isnan(value) and not code:
                continue
            estimated = estimated or bool(match.group("est")) or f"estimated in {year}" in notes
            rows.append({"table": "production", "year": year, "country": country_code(name, path),
                         "country_name": name, "commodity": "Rare Earths", "statistic": MINE_PRODUCTION,
                         "value": value, "code": code, "unit": UNIT_T_REO, "estimated": estimated,
                         "edition": edition, "source": Path(path).name})  # fmt: skip
    return _frame(rows)


def _year(raw: Any, path: str | Path) -> int:
    text = str(raw).strip()
    if not re.fullmatch(r"\d{4}(\.0)?", text):
        raise ReeflowError(f"{path}: column 'Year' holds {raw!r}, not a year; check the file")
    return int(float(text))


# --------------------------------------------------------------------------------------------
# MCS combined all-commodities release (MCS2026 style, cp1252)
# --------------------------------------------------------------------------------------------

COMBINED_COLUMNS = ["MCS chapter", "Section", "Commodity", "Country", "Statistics", "Statistics_detail",
                    "Unit", "Year", "Value"]  # fmt: skip
_COMBINED_STATISTICS = {
    "production: mineral concentrates": "production_concentrate",
    "production: compounds and metals": "production_compounds_metals",
    "imports: compounds": "imports_compounds",
    "imports: metals: ferrocerium, alloys": "imports_alloys",
    "imports: metals: rare-earth metals and alloys": "imports_metals",
    "exports: ores and compounds": "exports_ores_compounds",
    "exports: metals: ferrocerium, alloys": "exports_alloys",
    "exports: metals: rare-earth metals and alloys": "exports_metals",
    "consumption, apparent, compounds and metals": "consumption_compounds_metals",
    "employment, mine and mill, annual average, number": "employment",
}
_COMBINED_UNITS = {"metric tons": "t", "percent": "percent", "number": "number",
                   "dollars per kilogram": "USD/kg"}  # fmt: skip


def combined_statistic(detail: str, commodity: str = "") -> str:
    """The same statistic names as the per-commodity salient files, so editions can be compared."""
    key = re.sub(r"\s+", " ", detail).strip().lower()
    if key in _COMBINED_STATISTICS:
        return _COMBINED_STATISTICS[key]
    if key.startswith("net import reliance"):
        tail = key.rsplit(":", 1)[-1]
        return "nir_" + ("concentrate" if "concentrate" in tail else "compounds_metals")
    if key.startswith("price"):
        item = key.split(":", 1)[-1].split(",", 1)[0] if ":" in key else commodity.lower()
        return "price_" + re.sub(r"[^a-z0-9]+", "_", item).strip("_")
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_")


def parse_mcs_combined(path: str | Path, edition: str = "") -> pd.DataFrame:
    """Rare-earth rows of the all-commodities release: world mine production and US salient data."""
    frame = read_csv_text(path)
    require_columns(frame, COMBINED_COLUMNS, path, "MCS combined data release")
    edition = edition or guess_edition(Path(path).name, "mcs_combined")
    chapter = frame["MCS chapter"].str.strip().str.upper()
    frame = frame[chapter.str.startswith("RARE EARTHS") & frame["Year"].str.strip().str.fullmatch(r"\d{4}")]
    rows = []
    for record in frame.to_dict("records"):
        section = record["Section"].strip().lower()
        is_mine = section.startswith("world mine production") and record["Statistics"].strip() == "Production"
        is_salient = section.startswith("salient")
        if not (is_mine or is_salient):
            continue
        if is_mine and record["MCS chapter"].strip().upper() != "RARE EARTHS":
            continue  # heavy-REE chapter: a subset of the same mine output, never added twice
        value, code, estimated = parse_value(record["Value"])
        if math.isnan(value) and not code:
            continue
        estimated = estimated or str(record.get("Notes", "")).strip().lower().startswith("estimated")
        name = record["Country"].strip()
        unit = record["Unit"].strip()
        rows.append({
            "table": "production" if is_mine else "salient", "year": int(record["Year"]),
            "country": country_code(name, path), "country_name": name,
            "commodity": record["MCS chapter"].strip().title(),
            "statistic": MINE_PRODUCTION if is_mine else combined_statistic(record["Statistics_detail"],
                                                                           record["Commodity"]),
            "value": value, "code": code,
            "unit": UNIT_T_REO if is_mine else _COMBINED_UNITS.get(unit.lower(), unit),
            "estimated": estimated, "edition": edition, "source": Path(path).name,
        })  # fmt: skip
    if not any(r["table"] == "production" for r in rows):
        raise ReeflowError(
            f"{path}: no 'RARE EARTHS' world mine production rows (column 'MCS chapter' / 'Section'); "
            "is this the MCS combined data release (kind mcs_combined)?"
        )
    return _frame(rows)


# --------------------------------------------------------------------------------------------
# Data Series 140 historical workbook and the Minerals Yearbook tables workbook
# --------------------------------------------------------------------------------------------

_DS140_STATISTICS = {
    "production": ("production_mine", "t"),
    "imports": ("imports", "t"),
    "exports": ("exports", "t"),
    "apparent consumption": ("consumption_apparent", "t"),
    "unit value ($/t)": ("unit_value", "USD/t"),
    "unit value (98$/t)": ("unit_value_1998usd", "USD/t"),
}


def _norm(cell: Any) -> str:
    return re.sub(r"\s+", " ", str(cell or "")).strip().lower()


def parse_ds140(path: str | Path, edition: str = "") -> pd.DataFrame:
    """DS140: US production (also a USA mine-production row), trade, consumption, world production."""
    edition = edition or guess_edition(Path(path).name, "ds140")
    for sheet, rows in load_workbook_rows(path).items():
        header_at = next((i for i, row in enumerate(rows[:40]) if row and _norm(row[0]) == "year"), None)
        if header_at is None:
            continue
        header = [_norm(c) for c in rows[header_at]]
        if "world production" not in header:
            raise ReeflowError(
                f"{path}: column 'World production' missing from sheet {sheet!r} (found: "
                f"{', '.join(h for h in header if h)}); is this the DS140 rare-earths workbook?"
            )
        return _frame(_ds140_records(rows[header_at + 1 :], header, path, edition))
    raise ReeflowError(f"{path}: column 'Year' missing (no sheet has a 'Year' header row); is this DS140?")


def _ds140_records(rows: list[tuple[Any, ...]], header: list[str], path: str | Path, edition: str) -> list[dict]:
    out: list[dict[str, Any]] = []
    world_at = header.index("world production")
    base = {"country": "USA", "country_name": "United States", "commodity": "Rare Earths", "edition": edition,
            "source": Path(path).name}  # fmt: skip
    for row in rows:
        if not row or not re.fullmatch(r"\d{4}(\.0)?", str(row[0]).strip()):
            if row and str(row[0] or "").strip():
                break  # footnotes start: the table is over
            continue
        year = int(float(str(row[0]).strip()))
        for at, name in enumerate(header):
            if at >= len(row) or at == 0 or not name:
                continue
            value, code, estimated = parse_value(row[at])
            if math.isnan(value) and not code:
                continue
            if at == world_at:
                out.append({**base, "table": "production", "year": year, "country": "WLD",
                            "country_name": "World", "statistic": MINE_PRODUCTION, "value": value,
                            "code": code, "unit": UNIT_T_REO, "estimated": estimated})  # fmt: skip
                continue
            statistic, unit = _DS140_STATISTICS.get(name, (re.sub(r"[^a-z0-9]+", "_", name).strip("_"), ""))
            out.append({**base, "table": "salient", "year": year, "statistic": statistic, "value": value,
                        "code": code, "unit": unit, "estimated": estimated})  # fmt: skip
            if statistic == "production_mine":
                out.append({**out[-1], "table": "production", "statistic": MINE_PRODUCTION, "unit": UNIT_T_REO})
    return out


def parse_myb(path: str | Path, edition: str = "") -> pd.DataFrame:
    """The yearbook table titled "world mine production, by country" (T8 in 2022), wherever it sits."""
    edition = edition or guess_edition(Path(path).name, "myb")
    for sheet, rows in load_workbook_rows(path).items():
        title = " ".join(_norm(c) for row in rows[:6] for c in row if c)
        if "world mine production" not in title:
            continue
        header_at = next((i for i, row in enumerate(rows[:20]) if row and _norm(row[0]).startswith("country")), None)
        if header_at is None:
            raise ReeflowError(
                f"{path}: column 'Country or locality' missing from sheet {sheet!r}; check the yearbook table"
            )
        years = {at: int(str(c).strip()) for at, c in enumerate(rows[header_at])
                 if c is not None and re.fullmatch(r"\d{4}(\.0)?", str(c).strip())}  # fmt: skip
        if not years:
            raise ReeflowError(f"{path}: sheet {sheet!r} has no year columns in its 'Country' header row")
        return _frame(_myb_records(rows[header_at + 1 :], years, path, edition))
    raise ReeflowError(
        f"{path}: no sheet titled 'world mine production' (table T8 in the 2022 edition); "
        "is this the Minerals Yearbook rare-earths tables workbook (kind myb)?"
    )


def _myb_records(rows: list[tuple[Any, ...]], years: dict[int, int], path: str | Path, edition: str) -> list[dict]:
    out: list[dict[str, Any]] = []
    for row in rows:
        label = str(row[0] or "").strip() if row else ""
        if not label:
            continue
        if _norm(label).startswith(("eestimated", "e estimated", "1", "2")) or len(label) > 60:
            break  # legend and footnotes
        name, mark = split_footnotes(label)
        country = country_code(name, path)
        for at, year in years.items():
            value, code, estimated = parse_value(row[at] if at < len(row) else None)
            if math.isnan(value) and not code:
                continue
            marker = str(row[at + 1]).strip() if at + 1 < len(row) and row[at + 1] is not None else ""
            out.append({"table": "production", "year": year, "country": country, "country_name": name,
                        "commodity": "Rare Earths", "statistic": MINE_PRODUCTION, "value": value,
                        "code": code or (marker if marker in ("e", "r", "p") else ""), "unit": UNIT_T_REO,
                        "estimated": estimated or mark == "e" or marker == "e", "edition": edition,
                        "source": Path(path).name})  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# Generic long production table
# --------------------------------------------------------------------------------------------


def parse_table(path: str | Path, edition: str = "") -> pd.DataFrame:
    """A user-supplied long table ``year,country,value_t_reo[,source][,edition][,estimated]``."""
    frame = read_csv_text(path)
    frame.columns = [c.lower() for c in frame.columns]
    require_columns(frame, ["year", "country", "value_t_reo"], path, "production table")
    default_edition = edition or Path(path).stem
    rows = []
    for record in frame.to_dict("records"):
        value, code, estimated = parse_value(record["value_t_reo"])
        if math.isnan(value) and not code:
            continue
        name = record["country"].strip()
        flag = str(record.get("estimated", "")).strip().lower() in ("true", "1", "yes", "e", "estimated")
        rows.append({"table": "production", "year": _year(record["year"], path),
                     "country": country_code(name, path), "country_name": name, "commodity": "Rare Earths",
                     "statistic": MINE_PRODUCTION,
                     "value": value, "code": code, "unit": UNIT_T_REO, "estimated": estimated or flag,
                     "edition": (record.get("edition") or "").strip() or default_edition,
                     "source": (record.get("source") or "").strip() or Path(path).name})  # fmt: skip
    return _frame(rows)


def parse_myb_hhi(path: str | Path, edition: str = "") -> pd.DataFrame:
    """One year of world mine production compiled from the Minerals Yearbooks for many elements.

    The layout of Theler, Kauwe & Sparks (2020, IMMI 9:144) ``{year} Data.csv``: columns Element,
    HHI Contribution, HHI, Country, Production, Market Share, Total World Production; the world total
    sits on the element's first row. Only the "Rare Earths" rows (t REO) are kept; a country with
    an empty Production cell reported nothing that year and is skipped, not read as zero."""
    frame = read_csv_text(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    require_columns(frame, ["Element", "Country", "Production", "Total World Production"], path,
                    "yearbook production compilation")
    match = re.search(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)", Path(path).name)
    if not match:
        raise ReeflowError(f"{path}: no year in the file name (expected e.g. '2005 Data.csv'); rename the file")
    year = int(match.group(1))
    default_edition = edition or f"MYB{year}-compiled"
    ree = frame[frame["Element"].astype(str).str.strip().str.lower() == "rare earths"]
    rows = []
    for record in ree.to_dict("records"):
        value, code, estimated = parse_value(record["Production"])
        if math.isnan(value) and not code:
            continue
        name = str(record["Country"]).strip()
        rows.append({"table": "production", "year": year, "country": country_code(name, path),
                     "country_name": name, "commodity": "Rare Earths", "statistic": MINE_PRODUCTION,
                     "value": value, "code": code, "unit": UNIT_T_REO, "estimated": estimated,
                     "edition": default_edition, "source": Path(path).name})  # fmt: skip
    world = [parse_value(v) for v in ree["Total World Production"]]
    world = [w for w in world if not math.isnan(w.value)]
    if world:
        rows.append({"table": "production", "year": year, "country": "WLD", "country_name": "World",
                     "commodity": "Rare Earths", "statistic": MINE_PRODUCTION, "value": world[0].value,
                     "code": world[0].code, "unit": UNIT_T_REO, "estimated": world[0].estimated,
                     "edition": default_edition, "source": Path(path).name})  # fmt: skip
    return _frame(rows)


PARSERS = {"mcs": parse_mcs, "mcs_combined": parse_mcs_combined, "ds140": parse_ds140, "myb": parse_myb,
           "myb_hhi": parse_myb_hhi, "table": parse_table}  # fmt: skip


def parse_usgs_file(path: str | Path, kind: str, edition: str = "") -> pd.DataFrame:
    """Dispatch on the configured kind; every parser returns ``RECORD_COLUMNS``."""
    if kind not in PARSERS:
        raise ReeflowError(f"{path}: unknown USGS kind {kind!r}; use one of {', '.join(KINDS)}")
    frame = PARSERS[kind](path, edition)
    log.info("%s (%s, %s): %d records", Path(path).name, kind, edition or "edition from file", len(frame))
    return frame


# --------------------------------------------------------------------------------------------
# Acquisition: download (or register a local file) byte for byte, with provenance
# --------------------------------------------------------------------------------------------


def check_content(data: bytes, kind: str, where: str) -> None:
    """Refuse what cannot be the expected file, before it lands in resources/raw as if it were."""
    if not data:
        raise ReeflowError(f"{where}: empty file; check the url or path in config usgs")
    if looks_like_html(data):
        raise ReeflowError(
            f"{where}: answered with an HTML page, not the {'.xlsx' if kind in XLSX_KINDS else 'CSV'} file "
            "expected; the url probably points at a landing page (fix it in config usgs.urls)"
        )
    if kind in XLSX_KINDS and not data.startswith(b"PK"):
        raise ReeflowError(f"{where}: not an .xlsx workbook (kind {kind} expects one); check the url or path")
    if kind not in XLSX_KINDS and data.startswith(b"PK"):
        raise ReeflowError(f"{where}: a zip/xlsx file where kind {kind} expects CSV; check the kind in config usgs")


def retrieve_usgs(
    entry: dict[str, Any],
    raw_path: str | Path,
    provenance_path: str | Path,
    *,
    timeout: float = 120.0,
    max_tries: int = 4,
    backoff_seconds: float = 2.0,
    session: Any = None,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Copy one USGS input into resources/raw/usgs and record where it came from.

    A download (or local file) larger than ``max_bytes`` (config usgs.max_file_mb) is refused; a
    download stops reading at that size.

    The raw file is written before its provenance, both atomically: a failed run leaves neither
    a partial file nor a provenance record describing a file that is not there."""
    kind, name, source = entry["kind"], entry["name"], str(entry["source"])
    where = f"USGS {kind}/{name} ({source})"
    sciencebase = entry.get("sciencebase")
    if sciencebase:  # the link is resolved from the item's JSON (reeflow.acquire.sciencebase)
        data, sb_record = retrieve_item_file(
            sciencebase["item"], sciencebase["file"], base_url=sciencebase["base_url"],
            timeout=timeout, max_tries=max_tries, backoff_seconds=backoff_seconds, session=session,
            describe=f"USGS {kind}/{name}", max_bytes=max_bytes,
        )  # fmt: skip
        status, retrieved_at = 200, utc_now()
    elif entry.get("is_url"):
        response = fetch(
            source, timeout=timeout, max_tries=max_tries, backoff_seconds=backoff_seconds, session=session,
            describe=where, max_bytes=max_bytes, limit_setting="usgs.max_file_mb",
        )  # fmt: skip
        data, status, retrieved_at = response.content, response.status_code, utc_now()
    else:
        path = Path(source)
        if not path.is_file():
            raise ReeflowError(f"{where}: local file not found; fix the path in config usgs.files")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise ReeflowError(
                f"{where}: {path.stat().st_size} bytes, more than the {max_bytes} that config usgs.max_file_mb "
                "allows; check the path, or raise the bound"
            )
        data, status = path.read_bytes(), "local"
        retrieved_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    check_content(data, kind, where)
    record = {
        "source": source, "kind": kind, "name": name,
        "edition": entry.get("edition") or guess_edition(name, kind),
        "sha256": sha256_bytes(data), "retrieved_at": retrieved_at, "status": status, "bytes": len(data),
    }  # fmt: skip
    if sciencebase:
        record["sciencebase"] = sb_record
    write_bytes_atomic(raw_path, data)
    write_json_atomic(provenance_path, record)
    log.info("%s: %d bytes, sha256 %s, edition %s", where, len(data), record["sha256"][:12], record["edition"])
    return record
