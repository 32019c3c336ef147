"""CEPII BACI as the trade source: releases by HS vintage, download, register, stream-extract, clean.

CEPII publishes BACI once per HS vintage (HS92, HS96, HS02, HS07, HS12, HS17, HS22), each from the
vintage's first year on, every year expressed in that nomenclature. A release is one multi-GB zip
with a CSV per year (``BACI_{hs}_Y{year}_V{version}.csv``, columns t, i, j, k, v, q) and a country
table (``country_codes_V{version}.csv``). The workflow reads each study year from the release the
config assigns it (``baci.releases``, ``plan_releases``), so that codes only a later vintage has
(hybrid and electric cars from HS2017, NiMH batteries from HS2012) are read where they exist, and the
commodity table's ``revisions`` column picks the rows that apply to that vintage. A year holds
about ten million flows of which we need a few thousand, so each year is read as a stream of
record batches straight from the zip member, filtered to the commodity table's codes batch by
batch, and only the kept rows are held in memory. The archive is never unpacked to disk.

BACI has already reconciled the importer's and exporter's declarations (one FOB value and one
quantity per flow), so cleaning is a mapping onto the ``trade`` contract of docs/data-model.md
with basis ``reconciled`` rather than a mirror reconciliation.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import requests

from reeflow.acquire.resumable import DownloadOptions, download_file
from reeflow.commodities import NATIONAL_MIN_DIGITS
from reeflow.countries import iso3_from_comtrade
from reeflow.io import (
    ReeflowError,
    atomic_path,
    read_json,
    sha256_file,
    utc_now,
    write_json_atomic,
)
from reeflow.schemas import TRADE_COLUMNS as TRADE_CONTRACT

log = logging.getLogger(__name__)

HS_REVISION = "H0"  # the HS92 release: every year in the 1992 nomenclature (extracts without an "hs" key)
RELEASE_REVISION: dict[str, str] = {
    "HS92": "H0", "HS96": "H1", "HS02": "H2", "HS07": "H3", "HS12": "H4", "HS17": "H5", "HS22": "H6",
}  # fmt: skip
BACI_FIRST_YEAR = 1995  # BACI starts in 1995; a vintage's release starts with the vintage itself
UNCOVERED_POLICIES: tuple[str, ...] = ("error", "gap")
BASIS = "reconciled"
PROVENANCE_KEY = b"reeflow.provenance"
BACI_COLUMNS: tuple[str, ...] = ("t", "i", "j", "k", "v", "q")
HK_GROUP: frozenset[str] = frozenset({"CHN", "HKG", "MAC"})
DEFAULT_BLOCK_BYTES = 16 << 20
_YEAR_MEMBER = re.compile(r"^BACI_(HS\d{2})_Y(\d{4})_V([0-9A-Za-z]+)\.csv$")
_COUNTRY_MEMBER = re.compile(r"^country_codes_V([0-9A-Za-z]+)\.csv$")
_MISSING_QTY = ("", "NA", "N/A", "NAN", "NULL")

# Extract (raw layer) schema: BACI's columns, renamed, k zero-padded, q parsed, ISO3 added.
EXTRACT_SCHEMA = pa.schema(
    [
        ("year", pa.int32()),
        ("exporter_code", pa.int32()),
        ("importer_code", pa.int32()),
        ("exporter", pa.string()),
        ("importer", pa.string()),
        ("hs6", pa.string()),
        ("value_kusd", pa.float64()),
        ("qty_t", pa.float64()),
    ]
)

TRADE_COLUMNS: tuple[str, ...] = tuple(TRADE_CONTRACT)  # one home: reeflow.schemas
_NAN_COLUMNS: tuple[str, ...] = (
    "qty_items", "qty_t_importer", "qty_t_exporter", "items_importer", "items_exporter",
    "value_usd_importer", "value_usd_exporter", "discrepancy_ratio",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Names and versions
# --------------------------------------------------------------------------------------------


def year_member(year: int, version: str, hs: str = "HS92") -> str:
    return f"BACI_{hs}_Y{int(year)}_V{version}.csv"


def country_member(version: str) -> str:
    return f"country_codes_V{version}.csv"


def download_url(template: str, version: str, hs: str = "HS92") -> str:
    """The release URL: ``baci.url`` with ``{hs}`` and ``{version}`` filled in, so one key (a mirror's
    address, say) serves every release."""
    if not version:
        raise ReeflowError("config baci.version is empty; set it (e.g. 202601) to download a BACI release")
    return template.replace("{version}", str(version)).replace("{hs}", str(hs))


def release_revision(hs: str) -> str:
    """The HS revision code (H0..H6) of a BACI release's nomenclature."""
    if hs not in RELEASE_REVISION:
        raise ReeflowError(f"BACI release {hs!r}: unknown HS vintage; use one of {sorted(RELEASE_REVISION)}")
    return RELEASE_REVISION[hs]


def release_first_year(hs: str) -> int:
    """First year a BACI release holds: its nomenclature's first year, and BACI's own start (1995)."""
    from reeflow.clean.hs import REVISION_FIRST_YEAR

    return max(REVISION_FIRST_YEAR[release_revision(hs)], BACI_FIRST_YEAR)


# --------------------------------------------------------------------------------------------
# Releases by HS vintage (config baci.releases)
# --------------------------------------------------------------------------------------------

RAW_DIR = "resources/raw/baci"


@dataclass(frozen=True)
class Release:
    """One BACI release the study reads: its vintage, version, the study years it gives, and either
    a local ``archive`` (zip or unpacked folder, read in place) or nothing (downloaded)."""

    hs: str
    version: str
    first_year: int
    last_year: int | None = None
    archive: str = ""
    sha256: str = ""

    def covers(self, year: int) -> bool:
        return self.first_year <= year and (self.last_year is None or year <= self.last_year)

    @property
    def span(self) -> str:
        return f"{self.first_year}-{self.last_year if self.last_year is not None else ''}"

    def archive_path(self) -> str:
        """Where the extracts read it: the local archive, else the downloaded zip."""
        return self.archive or f"{RAW_DIR}/BACI_{self.hs}_V{self.version}.zip"

    def download_record(self) -> str | None:
        return None if self.archive else f"{RAW_DIR}/BACI_{self.hs}_V{self.version}.download.json"

    def provenance_path(self) -> str:
        return f"{RAW_DIR}/provenance/{self.hs}.json"


def releases_from_config(items: Sequence[Mapping[str, Any]], version: str) -> list[Release]:
    """Typed and checked baci.releases; a release without its own version takes baci.version."""
    releases: list[Release] = []
    for index, item in enumerate(items):
        where = f"config baci.releases[{index}]"
        hs = str(item.get("hs", ""))
        if hs not in RELEASE_REVISION:
            raise ReeflowError(f"{where}: hs {hs!r} is not a BACI vintage; use one of {sorted(RELEASE_REVISION)}")
        first, last = int(item["first_year"]), item.get("last_year")
        last = None if last is None else int(last)
        if first < release_first_year(hs):
            raise ReeflowError(
                f"{where}: BACI's {hs} release starts in {release_first_year(hs)}, not {first}; give the "
                f"years before {release_first_year(hs)} to an older release (e.g. HS92, from 1995)"
            )
        if last is not None and last < first:
            raise ReeflowError(f"{where}: last_year {last} is before first_year {first}")
        archive = str(item.get("archive") or "").strip()
        own_version = str(item.get("version") or version or "").strip()
        if not own_version and not archive:
            raise ReeflowError(f"{where}: no version to download ({hs}); set baci.version or the release's archive")
        if any(r.hs == hs for r in releases):
            raise ReeflowError(f"{where}: {hs} is listed twice; give each vintage one entry with one year range")
        releases.append(Release(hs, own_version, first, last, archive, str(item.get("sha256") or "").strip()))
    return releases


def plan_releases(
    releases: Sequence[Release], years: Iterable[int], uncovered: str = "error"
) -> dict[int, Release | None]:
    """The release each study year is read from (None: a flagged gap).

    A year two releases claim is an error (which one holds the truth cannot be told); a year none
    covers is an error naming the fix, or a gap with ``uncovered`` "gap" (config baci.uncovered_years)."""
    if uncovered not in UNCOVERED_POLICIES:
        raise ReeflowError(f"config baci.uncovered_years: {uncovered!r}; use one of {UNCOVERED_POLICIES}")
    plan: dict[int, Release | None] = {}
    missing = []
    for year in years:
        hits = [r for r in releases if r.covers(int(year))]
        if len(hits) > 1:
            raise ReeflowError(
                f"config baci.releases: {year} is in the ranges of {', '.join(f'{r.hs} ({r.span})' for r in hits)}; "
                "make the year ranges disjoint"
            )
        if not hits:
            missing.append(int(year))
        plan[int(year)] = hits[0] if hits else None
    if missing and uncovered == "error":
        spans = ", ".join(f"{r.hs} {r.span}" for r in releases) or "none"
        raise ReeflowError(
            f"config baci.releases ({spans}) leave year(s) {missing} without a release; add or widen a release "
            "(HS92 holds 1995 on), shorten years, or set baci.uncovered_years: gap to run them as flagged gaps"
        )
    return plan


# --------------------------------------------------------------------------------------------
# Archive access (zip as CEPII ships it, or its unpacked folder)
# --------------------------------------------------------------------------------------------


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except FileNotFoundError as err:
        raise ReeflowError(
            f"BACI archive {archive}: file not found; fix the release's archive in baci.releases"
        ) from err
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ReeflowError(
            f"BACI archive {archive}: not a readable zip ({type(err).__name__}: {err}); the file is "
            "corrupt or truncated: delete it and download the release again (or fix the release's archive "
            "in baci.releases)"
        ) from err


def list_members(archive: str | os.PathLike[str]) -> dict[str, str]:
    """Base name -> path inside the archive of every file, because some zips nest a folder.

    Members are found by base name, so two with one name (a zip can hold the same name twice, or
    in two folders) would silently resolve to one of them: that, and a member whose path leaves
    the archive (absolute, or with ``..``), is refused."""
    root = Path(archive)
    if root.is_dir():
        paths = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file()]
    else:
        with _open_zip(root) as zf:
            paths = [info.filename for info in zf.infolist() if not info.is_dir()]
    members: dict[str, str] = {}
    for path in paths:
        parts = path.replace("\\", "/").split("/")
        if path.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", path):
            raise ReeflowError(
                f"BACI archive {archive}: unexpected member {path!r} (an absolute path or one with '..'); "
                "this is not a CEPII release as shipped: download it again from CEPII"
            )
        name = Path(path).name
        if name in members:
            raise ReeflowError(
                f"BACI archive {archive}: member name {name} occurs twice ({members[name]!r} and {path!r}); "
                "which one holds the data cannot be told: use the release as CEPII ships it"
            )
        members[name] = path
    return members


def release_years(members: Iterable[str], version: str, hs: str | None = None) -> list[int]:
    """Years of the release (of vintage ``hs``, or any) that the archive holds."""
    years = []
    for name in members:
        match = _YEAR_MEMBER.match(name)
        if match and match.group(3) == version and hs in (None, match.group(1)):
            years.append(int(match.group(2)))
    return sorted(years)


def detect_release(members: Iterable[str], version: str, configured: str | None = None) -> str:
    """The HS vintage of the archive's year files: the configured one if present, else the only one."""
    found = sorted({m.group(1) for n in members if (m := _YEAR_MEMBER.match(n)) and m.group(3) == version})
    if configured:
        if configured not in found:
            raise ReeflowError(
                f"BACI archive: no BACI_{configured}_Y*_V{version}.csv member (vintages found: {found or 'none'}); "
                "the archive is another release than baci.releases says: fix its hs or its archive"
            )
        return configured
    if len(found) != 1:
        raise ReeflowError(
            f"BACI archive: cannot tell the release's HS vintage (year files for {found or 'none'}); "
            "is it a CEPII BACI release?"
        )
    return found[0]


def detect_version(archive: str | os.PathLike[str], configured: str | None = None) -> str:
    """The release version: the configured one if the archive holds it, else the only one it holds."""
    names = list_members(archive)
    found = sorted({m.group(1) for n in names if (m := _COUNTRY_MEMBER.match(n))})
    if configured:
        if configured not in found:
            raise ReeflowError(
                f"BACI archive {archive}: no {country_member(configured)} "
                f"(versions found: {found or 'none'}); "
                "set baci.version to the archive's version or leave it empty to detect it"
            )
        return configured
    if len(found) != 1:
        raise ReeflowError(
            f"BACI archive {archive}: cannot tell the release version (country_codes_V*.csv found for "
            f"{found or 'no version'}); set baci.version"
        )
    return found[0]


@contextlib.contextmanager
def open_member(archive: str | os.PathLike[str], name: str) -> Iterator[IO[bytes]]:
    """A binary stream of one member, read from the zip without unpacking it to disk."""
    root = Path(archive)
    members = list_members(root)
    if name not in members:
        raise ReeflowError(
            f"BACI archive {archive}: member {name} not found; check baci.version and that the "
            "configured years are in this release"
        )
    if root.is_dir():
        with open(root / members[name], "rb") as handle:
            yield handle
        return
    with _open_zip(root) as zf, zf.open(members[name]) as handle:
        yield handle


# --------------------------------------------------------------------------------------------
# Country table
# --------------------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "country_code": ("country_code",),
    "iso3": ("country_iso3", "iso_3digit_alpha"),
}


def read_country_codes(archive: str | os.PathLike[str], version: str) -> dict[int, str]:
    """BACI country code -> ISO3, from the release's own table.

    Codes BACI gives no usable ISO3 (e.g. "Other Asia, nes", S19) fall back to the Comtrade
    convention of reeflow.countries (490 -> TWN, else a stable X-code), which BACI's numbering follows.
    """
    name = country_member(version)
    with open_member(archive, name) as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    cols = {}
    for key, options in _COUNTRY_ALIASES.items():
        hit = next((c for c in options if c in table.columns), None)
        if hit is None:
            raise ReeflowError(
                f"BACI archive {archive}, {name}: no column {' or '.join(options)} "
                f"(columns: {list(table.columns)}); is this a CEPII BACI release?"
            )
        cols[key] = hit
    mapping: dict[int, str] = {}
    for code_text, iso3 in zip(table[cols["country_code"]], table[cols["iso3"]], strict=True):
        try:
            code = int(str(code_text).strip())
        except ValueError as err:
            raise ReeflowError(
                f"BACI archive {archive}, {name}: country_code {code_text!r} is not an integer"
            ) from err
        iso3 = str(iso3).strip().upper()
        mapping[code] = iso3 if re.fullmatch(r"[A-Z]{3}", iso3) else iso3_from_comtrade(code)[0]
    return mapping


# --------------------------------------------------------------------------------------------
# Code filter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeFilter:
    """HS6 codes to keep, as integers, because BACI's k column may have lost its leading zero."""

    codes6: tuple[int, ...]
    headings: tuple[int, ...]  # 4-digit table codes: keep every 6-digit child

    @classmethod
    def from_codes(cls, codes: Iterable[str]) -> CodeFilter:
        six, four = set(), set()
        for code in codes:
            code = str(code).strip()
            if re.fullmatch(r"\d{7,10}", code):
                continue  # a national tariff line: BACI is harmonised at HS6
            if re.fullmatch(r"\d{6}", code):
                six.add(int(code))
            elif re.fullmatch(r"\d{4}", code):
                four.add(int(code))
            else:
                raise ReeflowError(
                    f"commodity code {code!r} has neither 4 nor 6 digits; fix the commodity table"
                )
        return cls(tuple(sorted(six)), tuple(sorted(four)))

    def mask(self, k: pa.Array | pa.ChunkedArray) -> pa.Array:
        keep = pc.is_in(k, value_set=pa.array(self.codes6, type=pa.int32()))
        for heading in self.headings:
            child = pc.and_(pc.greater_equal(k, heading * 100), pc.less_equal(k, heading * 100 + 99))
            keep = pc.or_(keep, child)
        return pc.fill_null(keep, False)


# --------------------------------------------------------------------------------------------
# Streaming extract
# --------------------------------------------------------------------------------------------


def _parse_quantity(q: pa.ChunkedArray) -> pa.ChunkedArray:
    """BACI writes q right-aligned with blanks and "NA" for missing: trim, null, then parse."""
    trimmed = pc.utf8_trim_whitespace(q)
    missing = pc.is_in(pc.utf8_upper(trimmed), value_set=pa.array(_MISSING_QTY))
    cleaned = pc.if_else(pc.fill_null(missing, True), pa.scalar(None, pa.string()), trimmed)
    return pc.cast(cleaned, pa.float64())


def _csv_options(block_bytes: int) -> tuple[pacsv.ReadOptions, pacsv.ConvertOptions]:
    read = pacsv.ReadOptions(block_size=block_bytes, use_threads=True)
    convert = pacsv.ConvertOptions(
        column_types={"t": pa.int32(), "i": pa.int32(), "j": pa.int32(), "k": pa.int32(),
                      "v": pa.float64(), "q": pa.string()},
        include_columns=list(BACI_COLUMNS),
        null_values=["", "NA"],
        strings_can_be_null=False,
    )  # fmt: skip
    return read, convert


def stream_filtered(
    handle: IO[bytes],
    codes: CodeFilter,
    where: str,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    max_rows: int | None = None,
    max_kept_rows: int | None = None,
) -> tuple[pa.Table, int]:
    """Rows of one BACI year CSV whose k passes ``codes``, and the number of rows read.

    Only one block (``block_bytes`` of CSV) is parsed at a time; kept rows are a tiny fraction.
    Reading stops with an error once more than ``max_rows`` rows were read or more than
    ``max_kept_rows`` kept (config baci.max_member_rows, baci.max_kept_rows)."""
    read_opts, convert_opts = _csv_options(block_bytes)
    kept: list[pa.RecordBatch] = []
    total = kept_rows = 0
    try:
        reader = pacsv.open_csv(handle, read_options=read_opts, convert_options=convert_opts)
        for batch in reader:
            total += batch.num_rows
            if max_rows is not None and total > max_rows:
                raise ReeflowError(
                    f"{where}: more than {max_rows} rows, the bound set by config baci.max_member_rows; "
                    "stopped reading. Raise it if the release really is that large"
                )
            mask = codes.mask(batch.column("k"))
            if pc.any(mask).as_py():
                kept.append(batch.filter(mask))
                kept_rows += kept[-1].num_rows
                if max_kept_rows is not None and kept_rows > max_kept_rows:
                    raise ReeflowError(
                        f"{where}: more than {max_kept_rows} rows of the commodity table's codes, the bound set "
                        "by config baci.max_kept_rows; stopped reading. Check the commodity table's codes (a "
                        "short one keeps whole chapters), or raise the bound"
                    )
        schema = reader.schema
    except ReeflowError:
        raise
    except pa.ArrowKeyError as err:
        raise ReeflowError(
            f"{where}: missing column(s) ({err}); a BACI year file has columns t,i,j,k,v,q"
        ) from err
    except pa.ArrowInvalid as err:
        raise ReeflowError(
            f"{where}: unreadable CSV ({err}); columns t,i,j,k must be integers and v a number. "
            "If the archive is corrupt, delete it and download the release again"
        ) from err
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ReeflowError(
            f"{where}: corrupt archive member ({type(err).__name__}: {err}); delete the archive and "
            "download the release again (or fix the release's archive in baci.releases)"
        ) from err
    table = pa.Table.from_batches(kept, schema=schema) if kept else schema.empty_table()
    return table, total


def shape_extract(table: pa.Table, countries: Mapping[int, str], year: int, where: str) -> pa.Table:
    """Rename BACI's columns, zero-pad k, parse q and add ISO3 codes from the release's table."""
    years = pc.unique(table.column("t")).to_pylist()
    if any(y != year for y in years):
        raise ReeflowError(f"{where}: column t holds year(s) {sorted(years)} in the file for {year}")
    both = pa.chunked_array(table.column("i").chunks + table.column("j").chunks, type=pa.int32())
    codes = pc.unique(both).to_pylist()
    unknown = sorted(c for c in codes if c is not None and c not in countries)
    if unknown:
        log.warning("%s: country codes %s are not in the release's country table; "
                    "using the Comtrade convention", where, unknown)  # fmt: skip
    lookup = {c: countries.get(c) or iso3_from_comtrade(c)[0] for c in codes if c is not None}
    keys = pa.array(list(lookup), type=pa.int32())
    values = pa.array(list(lookup.values()), type=pa.string())

    def iso3(col: str) -> pa.Array:
        return pc.take(values, pc.index_in(table.column(col), value_set=keys))

    hs6 = pc.utf8_lpad(pc.cast(table.column("k"), pa.string()), width=6, padding="0")
    return pa.table(
        [table.column("t"), table.column("i"), table.column("j"), iso3("i"), iso3("j"), hs6,
         table.column("v"), _parse_quantity(table.column("q"))],
        schema=EXTRACT_SCHEMA,
    )  # fmt: skip


def extract_year(
    archive: str | os.PathLike[str],
    year: int,
    codes: Iterable[str],
    out_path: str | os.PathLike[str],
    provenance_path: str | os.PathLike[str],
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    threads: int | None = None,
    max_member_rows: int | None = None,
    max_kept_rows: int | None = None,
    gap_if_missing: bool = False,
) -> pa.Table:
    """Write ``resources/raw/baci/{year}.parquet``: the year's flows of the commodity table's codes.

    ``gap_if_missing`` (config baci.uncovered_years: gap): a year the release lacks is written as an
    empty, flagged extract instead of failing.

    The archive's provenance (sha256, source, version) is copied into the Parquet schema metadata
    with the member read, so the extract says exactly which bytes it came from. ``threads`` caps
    pyarrow's pool at what the scheduler granted the job; ``max_member_rows`` and ``max_kept_rows``
    bound the rows read and kept (config baci.max_member_rows, baci.max_kept_rows)."""
    if threads:
        pa.set_cpu_count(int(threads))
    archive_prov = read_json(provenance_path)
    version = str(archive_prov.get("version", ""))
    if not version:
        raise ReeflowError(f"{provenance_path}: no 'version'; delete it and rerun register_baci_archive")
    hs = str(archive_prov.get("hs") or "HS92")
    member = year_member(year, version, hs)
    held = [int(y) for y in archive_prov.get("years", [])]
    if held and int(year) not in held:
        message = (
            f"BACI {year}: the {hs} release V{version} ({archive}) holds years {held[0]}-{held[-1]}, not {year}; "
            "set a newer baci.version, give the year to another release (baci.releases) or shorten years"
        )
        if not gap_if_missing:
            raise ReeflowError(message + ", or set baci.uncovered_years: gap to run it as a flagged gap")
        return write_gap_extract(out_path, year, message)
    where = f"BACI archive {archive}, member {member}"
    code_filter = CodeFilter.from_codes(codes)
    countries = read_country_codes(archive, version)
    with open_member(archive, member) as handle:
        raw, rows_read = stream_filtered(handle, code_filter, where, block_bytes, max_member_rows, max_kept_rows)
    table = shape_extract(raw, countries, int(year), where)
    provenance = {
        "source": "baci",
        "archive": str(archive),
        "archive_source": archive_prov.get("source"),
        "archive_sha256": archive_prov.get("sha256"),
        "version": version,
        "hs": hs,
        "revision": release_revision(hs),
        "year": int(year),
        "member": member,
        "member_crc32": archive_prov.get("members", {}).get(member, {}).get("crc32"),
        "member_sha256": archive_prov.get("members", {}).get(member, {}).get("sha256"),
        "retrieved_at": archive_prov.get("retrieved_at"),
        "extracted_at": utc_now(),
        "rows_read": rows_read,
        "rows_kept": table.num_rows,
        "codes": sorted(str(c) for c in codes),
    }
    table = table.replace_schema_metadata({PROVENANCE_KEY: json.dumps(provenance).encode()})
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp)
    log.info("%s: kept %d of %d rows", where, table.num_rows, rows_read)
    return table


def write_gap_extract(out_path: str | os.PathLike[str], year: int, reason: str) -> pa.Table:
    """An empty extract for a year no release covers, flagged ``gap`` in its provenance (and the
    report's provenance table), so the year runs with no trade instead of failing."""
    provenance = {"source": "baci", "year": int(year), "gap": True, "reason": reason, "extracted_at": utc_now(),
                  "rows_read": 0, "rows_kept": 0}  # fmt: skip
    log.warning("BACI %s: a flagged gap (no trade): %s", year, reason)
    table = EXTRACT_SCHEMA.empty_table().replace_schema_metadata({PROVENANCE_KEY: json.dumps(provenance).encode()})
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp)
    return table


def read_extract_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    if PROVENANCE_KEY not in meta:
        raise ReeflowError(f"{path}: no reeflow.provenance in the Parquet metadata; rerun rule extract_baci")
    return json.loads(meta[PROVENANCE_KEY])


# --------------------------------------------------------------------------------------------
# Download and registration of the archive
# --------------------------------------------------------------------------------------------


RELEASES_PAGE = "https://www.cepii.fr/CEPII/en/bdd_modele/bdd_modele_item.asp?id=37"


def download_archive(
    url: str,
    out_path: str | os.PathLike[str],
    record_path: str | os.PathLike[str],
    timeout: float = 120.0,
    max_tries: int = 4,
    chunk_bytes: int = 1 << 20,
    max_bytes: int | None = None,
    expected_sha256: str = "",
    session: requests.Session | None = None,
    backoff_seconds: float = 2.0,
) -> dict[str, Any]:
    """Download a release zip (streamed, resumable, checked: reeflow.acquire.resumable) and write
    its record (url, bytes, sha256, time) beside it.

    ``max_bytes``: config baci.max_archive_gb; ``expected_sha256``: the release's configured sha256
    (CEPII publishes none, so empty by default: the record's sha256 then pins what was used)."""
    opts = DownloadOptions(
        timeout=timeout,
        max_tries=max_tries,
        chunk_bytes=chunk_bytes,
        max_bytes=max_bytes,
        backoff_seconds=backoff_seconds,
        limit_setting="baci.max_archive_gb",
        expected_sha256=expected_sha256,
        checksum_setting="baci.releases[].sha256",
        fix_hint=(
            "check baci.url (a mirror's address, with {hs} and {version}) and baci.version against the "
            f"releases CEPII lists at {RELEASES_PAGE}, or download the zip by hand and set the release's "
            "archive in baci.releases"
        ),
    )
    record = download_file(url, out_path, f"BACI release {url}", opts, session=session)
    write_json_atomic(record_path, record)
    return record


def _member_records(archive: Path) -> dict[str, dict[str, Any]]:
    """Per member: size and CRC32 (zip, free from its directory) or sha256 (folder)."""
    if archive.is_dir():
        return {
            p.name: {"path": str(p.relative_to(archive)), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(archive.rglob("*.csv"))
            if p.is_file()
        }
    with _open_zip(archive) as zf:
        return {
            Path(i.filename).name: {"path": i.filename, "bytes": i.file_size, "crc32": f"{i.CRC:08x}"}
            for i in zf.infolist()
            if not i.is_dir()
        }


def register_archive(
    archive: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    version: str | None = None,
    download_record: str | os.PathLike[str] | None = None,
    hs: str | None = None,
) -> dict[str, Any]:
    """Check the archive opens and holds a country table, then record what it is (hashes, members).

    Hashing once here spares every per-year extract from re-reading a multi-GB file. ``hs`` is the
    vintage baci.releases says the archive is (checked; detected when None). Which study years it
    must hold is checked per year by extract_year, so that changing the study's years reruns no
    registration."""
    root = Path(archive)
    if not root.exists():
        raise ReeflowError(
            f"BACI archive {archive}: not found; fix the release's archive in baci.releases (or clear it to download)"
        )
    version = detect_version(root, version or None)
    members = _member_records(root)
    try:
        hs = detect_release(members, version, hs)
    except ReeflowError as err:
        raise ReeflowError(f"BACI archive {archive}: {str(err).removeprefix('BACI archive: ')}") from None
    held = release_years(members, version, hs)
    if not held:
        raise ReeflowError(f"BACI archive {archive}: no BACI_{hs}_Y*_V{version}.csv member; is it a BACI release?")
    record: dict[str, Any] = {
        "kind": "folder" if root.is_dir() else "zip",
        "archive": str(archive),
        "source": str(archive),
        "version": version,
        "hs": hs,
        "revision": release_revision(hs),
        "years": held,
        "sha256": None if root.is_dir() else sha256_file(root),
        "bytes": sum(m["bytes"] for m in members.values()) if root.is_dir() else root.stat().st_size,
        "retrieved_at": utc_now(),
        "members": members,
    }
    if download_record:
        fetched = read_json(download_record)
        if record["sha256"] != fetched.get("sha256"):
            raise ReeflowError(
                f"BACI archive {archive}: sha256 differs from the download record {download_record}; "
                "the file changed since download: delete both and download again"
            )
        record["source"] = fetched.get("source")
        record["retrieved_at"] = fetched.get("retrieved_at")
    write_json_atomic(out_path, record)
    return record


# --------------------------------------------------------------------------------------------
# Clean: extract -> trade contract
# --------------------------------------------------------------------------------------------


def applicable_commodities(commodities: Sequence[Mapping[str, Any]], revision: str = HS_REVISION) -> pd.DataFrame:
    """Commodity rows that apply to a release's nomenclature ``revision`` (H0 for HS92, H5 for HS17):
    no revision restriction, or one that lists it. So 870390 counts as "held hybrid and electric cars"
    in the HS92 and HS12 releases and as other cars only in HS17, where 870340-870380 take over.

    National tariff lines (7-10 digits) are left out: BACI is harmonised at HS6."""
    table = pd.DataFrame(list(commodities), columns=["hs_code", "stage", "unit_basis", "revisions"])
    table["hs_code"] = table["hs_code"].astype(str).str.strip()
    table = table[table["hs_code"].str.len() < NATIONAL_MIN_DIGITS]
    revs = table["revisions"].fillna("").astype(str).str.split("|")
    applies = revs.map(lambda r: not any(r) or revision in r)
    return table[applies].reset_index(drop=True)


def map_to_table(hs6: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Commodity-table code of each HS6 code: itself if listed, else its listed 4-digit heading."""
    codes = set(table["hs_code"])
    exact = hs6.where(hs6.isin(codes))
    heading = hs6.str[:4]
    return exact.fillna(heading.where(heading.isin(codes))).fillna("")


def extract_revision(path: str | os.PathLike[str]) -> str:
    """The HS revision of the release an extract came from (H0 for extracts written before releases
    carried their vintage, which were all HS92)."""
    try:
        prov = read_extract_provenance(path)
    except (ReeflowError, OSError, pa.ArrowInvalid):
        return HS_REVISION
    return str(prov.get("revision") or HS_REVISION)


def impute_quantities(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing tonnes from the median unit value of the same code and year, and flag them.

    The median (not the mean) so that a few mis-keyed quantities do not move every estimate."""
    out = frame.copy()
    ok = (out["qty_t"] > 0) & (out["value_usd"] > 0)
    unit_value = (out["value_usd"] / out["qty_t"]).where(ok)
    median_uv = unit_value.groupby([out["year"], out["hs6_raw"]]).transform("median")
    fill = out["qty_t"].isna() & (median_uv > 0) & out["value_usd"].notna()
    out["qty_t"] = out["qty_t"].mask(fill, out["value_usd"] / median_uv)
    out["imputed"] = fill
    return out


def clean_baci_year(
    path: str | os.PathLike[str],
    commodities: Sequence[Mapping[str, Any]],
    impute_missing_weights: bool,
) -> pd.DataFrame:
    """The ``trade`` table (docs/data-model.md) for one BACI year extract.

    One row per year, exporter, importer and commodity-table code; BACI's single reconciled flow
    gives qty_t and value_usd (FOB, thousand USD x 1000), and the mirror columns stay NaN.
    ``impute_missing_weights``: config trade.impute_missing_weights."""
    try:
        raw = pd.read_parquet(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ReeflowError(
            f"{path}: unreadable BACI extract ({err}); delete it and rerun rule extract_baci"
        ) from err
    missing = [c for c in EXTRACT_SCHEMA.names if c not in raw.columns]
    if missing:
        raise ReeflowError(f"{path}: missing column(s) {missing}; delete it and rerun rule extract_baci")
    table = applicable_commodities(commodities, extract_revision(path))
    frame = pd.DataFrame({
        "year": raw["year"].astype("int64"),
        "exporter": raw["exporter"].astype("str"),
        "importer": raw["importer"].astype("str"),
        "hs6_raw": raw["hs6"].astype("str").str.zfill(6),
        "qty_t": raw["qty_t"].astype("float64"),
        "value_usd": raw["value_kusd"].astype("float64") * 1000.0,
    })  # fmt: skip
    frame["hs6"] = map_to_table(frame["hs6_raw"], table)
    frame = frame[frame["hs6"] != ""]
    if impute_missing_weights:
        frame = impute_quantities(frame)
    else:
        frame = frame.assign(imputed=False)
    grouped = frame.groupby(["year", "exporter", "importer", "hs6"], as_index=False, sort=True).agg(
        qty_t=("qty_t", lambda s: s.sum(min_count=1)),
        value_usd=("value_usd", lambda s: s.sum(min_count=1)),
        imputed=("imputed", "any"),
    )
    stages = dict(zip(table["hs_code"], table["stage"], strict=True))
    grouped["stage"] = grouped["hs6"].map(stages).astype("str")
    grouped["basis"] = BASIS
    for col in _NAN_COLUMNS:
        grouped[col] = np.nan
    grouped["disputed"] = False
    grouped["imputed_importer"] = False  # no per-side declarations: BACI's imputation is the row's
    grouped["imputed_exporter"] = False
    grouped["one_sided"] = False
    grouped["reexport"] = False
    grouped["cross_code"] = ""  # BACI is reconciled by CEPII: no declarations to match across codes
    grouped["hk_roundtrip"] = (
        grouped["exporter"].isin(HK_GROUP) & grouped["importer"].isin(HK_GROUP)
        & (grouped["exporter"] != grouped["importer"])
    )  # fmt: skip
    return _typed_trade(grouped)


def _typed_trade(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.loc[:, list(TRADE_COLUMNS)].reset_index(drop=True)
    dtypes: dict[str, str] = {"year": "int64"}
    dtypes |= {c: "str" for c in ("exporter", "importer", "hs6", "stage", "basis", "cross_code")}
    dtypes |= {c: "float64" for c in ("qty_t", "qty_items", "value_usd", *_NAN_COLUMNS)}
    dtypes |= {c: "bool" for c in ("disputed", "one_sided", "imputed", "imputed_importer", "imputed_exporter",
                                   "hk_roundtrip", "reexport")}  # fmt: skip
    return out.astype(dtypes)
