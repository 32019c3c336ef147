"""CEPII BACI (HS92) as an alternative trade source: download, register, stream-extract, clean.

A BACI release is one multi-GB zip with a CSV per year (``BACI_HS92_Y{year}_V{version}.csv``,
columns t, i, j, k, v, q) and a country table (``country_codes_V{version}.csv``). A year holds
about ten million flows of which we need a few thousand, so each year is read as a stream of
record batches straight from the zip member, filtered to the commodity table's codes batch by
batch, and only the kept rows are held in memory. The archive is never unpacked to disk.

BACI has already reconciled the importer's and exporter's declarations (one FOB value and one
quantity per flow), so cleaning is a mapping onto the ``trade`` contract of docs/data-model.md
with basis ``reconciled`` rather than a mirror reconciliation.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
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

from reeflow.commodities import NATIONAL_MIN_DIGITS
from reeflow.countries import iso3_from_comtrade
from reeflow.http import fetch
from reeflow.io import (
    ReeflowError,
    atomic_path,
    read_json,
    remove_stale_parts,
    sha256_file,
    utc_now,
    write_json_atomic,
)
from reeflow.schemas import TRADE_COLUMNS as TRADE_CONTRACT

log = logging.getLogger(__name__)

HS_REVISION = "H0"  # BACI HS92 is expressed in the 1992 nomenclature for every year
BASIS = "reconciled"
PROVENANCE_KEY = b"reeflow.provenance"
BACI_COLUMNS: tuple[str, ...] = ("t", "i", "j", "k", "v", "q")
HK_GROUP: frozenset[str] = frozenset({"CHN", "HKG", "MAC"})
DEFAULT_BLOCK_BYTES = 16 << 20
_YEAR_MEMBER = re.compile(r"^BACI_HS92_Y(\d{4})_V([0-9A-Za-z]+)\.csv$")
_COUNTRY_MEMBER = re.compile(r"^country_codes_V([0-9A-Za-z]+)\.csv$")
_MISSING_QTY = ("", "NA", "N/A", "NAN", "NULL")
DISK_MARGIN_BYTES = 256 << 20  # free space kept beyond the release itself (the provenance, the extracts)

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


def year_member(year: int, version: str) -> str:
    return f"BACI_HS92_Y{int(year)}_V{version}.csv"


def country_member(version: str) -> str:
    return f"country_codes_V{version}.csv"


def download_url(template: str, version: str) -> str:
    """The release URL: ``baci.url`` with ``{version}`` filled in, so one key serves every release."""
    if not version:
        raise ReeflowError("config baci.version is empty; set it (e.g. 202601) to download a BACI release")
    return template.replace("{version}", str(version))


# --------------------------------------------------------------------------------------------
# Archive access (zip as CEPII ships it, or its unpacked folder)
# --------------------------------------------------------------------------------------------


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except FileNotFoundError as err:
        raise ReeflowError(f"BACI archive {archive}: file not found; fix baci.archive in the config") from err
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ReeflowError(
            f"BACI archive {archive}: not a readable zip ({type(err).__name__}: {err}); the file is "
            "corrupt or truncated: delete it and download the release again (or fix baci.archive)"
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


def release_years(members: Iterable[str], version: str) -> list[int]:
    years = []
    for name in members:
        match = _YEAR_MEMBER.match(name)
        if match and match.group(2) == version:
            years.append(int(match.group(1)))
    return sorted(years)


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
            "download the release again (or fix baci.archive)"
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
) -> pa.Table:
    """Write ``resources/raw/baci/{year}.parquet``: the year's flows of the commodity table's codes.

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
    member = year_member(year, version)
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


def read_extract_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    if PROVENANCE_KEY not in meta:
        raise ReeflowError(f"{path}: no reeflow.provenance in the Parquet metadata; rerun rule extract_baci")
    return json.loads(meta[PROVENANCE_KEY])


# --------------------------------------------------------------------------------------------
# Download and registration of the archive
# --------------------------------------------------------------------------------------------


class _CutShort(ReeflowError):
    """A download that ended before its announced length: worth another try."""


def check_free_space(folder: str | os.PathLike[str], needed: int, what: str) -> None:
    """Refuse to start writing ``needed`` bytes into ``folder`` when the disk cannot hold them."""
    free = shutil.disk_usage(folder).free
    if free < needed + DISK_MARGIN_BYTES:
        raise ReeflowError(
            f"{what}: needs {needed / 2**30:.2f} GB (+{DISK_MARGIN_BYTES >> 20} MB margin) but only "
            f"{free / 2**30:.2f} GB are free in {folder}; free some space (or put resources/ on a larger disk) "
            "and rerun"
        )


def download_archive(
    url: str,
    out_path: str | os.PathLike[str],
    record_path: str | os.PathLike[str],
    timeout: float = 120.0,
    max_tries: int = 4,
    chunk_bytes: int = 1 << 20,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Stream a release to a temporary file, hashing on the way, and rename it when it is whole.

    Temporary files a killed earlier run left are removed first. Before writing, the free disk
    space is checked against the announced size; the download stops once it passes ``max_bytes``
    (config baci.max_archive_gb). A cut connection is retried; a refusal is not."""
    where = f"BACI release {url}"
    folder = Path(out_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out_path)
    session = requests.Session()
    record: dict[str, Any] = {}
    for attempt in range(1, max_tries + 1):
        response = fetch(url, timeout=timeout, max_tries=max_tries, session=session, describe=where, stream=True)
        digest = hashlib.sha256()
        size = 0
        declared = response.headers.get("Content-Length") or ""
        expected = int(declared) if declared.isdigit() else -1
        try:
            if max_bytes is not None and expected > max_bytes:
                raise ReeflowError(
                    f"{where}: announces {expected} bytes, more than the {max_bytes} that config baci.max_archive_gb "
                    "allows; raise it if the release really is that large"
                )
            if expected >= 0:
                check_free_space(folder, expected, where)
            else:
                log.warning("%s: no Content-Length; the free disk space cannot be checked beforehand", where)
            with atomic_path(out_path) as tmp:
                with open(tmp, "wb") as handle:
                    for chunk in response.iter_content(chunk_size=chunk_bytes):
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise ReeflowError(
                                f"{where}: larger than {max_bytes} bytes, the bound set by config "
                                "baci.max_archive_gb; stopped downloading (nothing kept). Raise it if the "
                                "release really is that large"
                            )
                if expected >= 0 and size != expected:
                    raise _CutShort(f"{where}: got {size} of {expected} bytes (connection cut)")
                if not zipfile.is_zipfile(tmp):
                    raise ReeflowError(f"{where}: the answer is not a zip archive; check baci.url")
        except (requests.RequestException, _CutShort) as err:
            if attempt == max_tries:
                raise ReeflowError(f"{where}: download failed ({err})") from err
            log.warning("%s: %s; try %d of %d", where, err, attempt + 1, max_tries)
            continue
        finally:
            response.close()
        record = {"source": url, "status": response.status_code, "bytes": size,
                  "sha256": digest.hexdigest(), "retrieved_at": utc_now()}  # fmt: skip
        break
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
) -> dict[str, Any]:
    """Check the archive opens and holds a country table, then record what it is (hashes, members).

    Hashing once here spares every per-year extract from re-reading a multi-GB file."""
    root = Path(archive)
    if not root.exists():
        raise ReeflowError(f"BACI archive {archive}: not found; fix baci.archive or baci.url/version")
    version = detect_version(root, version or None)
    members = _member_records(root)
    years = release_years(members, version)
    if not years:
        raise ReeflowError(
            f"BACI archive {archive}: no BACI_HS92_Y*_V{version}.csv member; is it an HS92 release?"
        )
    record: dict[str, Any] = {
        "kind": "folder" if root.is_dir() else "zip",
        "archive": str(archive),
        "source": str(archive),
        "version": version,
        "years": years,
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


def applicable_commodities(commodities: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Commodity rows that apply to HS92 data: no revision restriction, or one that lists H0.

    National tariff lines (7-10 digits) are left out: BACI is harmonised at HS6."""
    table = pd.DataFrame(list(commodities), columns=["hs_code", "stage", "unit_basis", "revisions"])
    table["hs_code"] = table["hs_code"].astype(str).str.strip()
    table = table[table["hs_code"].str.len() < NATIONAL_MIN_DIGITS]
    revs = table["revisions"].fillna("").astype(str).str.split("|")
    applies = revs.map(lambda r: not any(r) or HS_REVISION in r)
    return table[applies].reset_index(drop=True)


def map_to_table(hs6: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Commodity-table code of each HS6 code: itself if listed, else its listed 4-digit heading."""
    codes = set(table["hs_code"])
    exact = hs6.where(hs6.isin(codes))
    heading = hs6.str[:4]
    return exact.fillna(heading.where(heading.isin(codes))).fillna("")


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
    table = applicable_commodities(commodities)
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


# --------------------------------------------------------------------------------------------
# Comparison with Comtrade (quality table)
# --------------------------------------------------------------------------------------------

COMPARISON_KEYS: tuple[str, ...] = ("year", "hs6", "exporter", "importer")


def _comtrade_side(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Comtrade's cleaned flows without re-exports, which BACI's balance-of-declarations leaves out."""
    trade = pd.read_parquet(path)
    missing = [c for c in (*COMPARISON_KEYS, "qty_t", "value_usd") if c not in trade.columns]
    if missing:
        raise ReeflowError(f"{path}: missing column(s) {missing} of the trade table; rerun rule clean_trade")
    if "reexport" in trade.columns:
        trade = trade[~trade["reexport"].astype(bool)]
    return trade.groupby(list(COMPARISON_KEYS), as_index=False)[["qty_t", "value_usd"]].sum(min_count=1)


def compare_sources(
    baci_paths: Sequence[str | os.PathLike[str]],
    trade_paths: Sequence[str | os.PathLike[str]],
    commodities: Sequence[Mapping[str, Any]],
    impute_missing_weights: bool,
) -> pd.DataFrame:
    """BACI's and Comtrade's tonnes side by side per year, code and country pair (outer join).

    ratio = BACI / Comtrade tonnes; NaN where either side is missing or Comtrade says zero, so a
    flow only one source knows is kept and visible rather than dropped."""
    frames = []
    for baci_path, trade_path in zip(baci_paths, trade_paths, strict=True):
        baci = clean_baci_year(baci_path, commodities, impute_missing_weights)
        baci = baci.loc[:, [*COMPARISON_KEYS, "qty_t", "value_usd"]]
        merged = baci.merge(
            _comtrade_side(trade_path), on=list(COMPARISON_KEYS), how="outer", suffixes=("_baci", "_comtrade")
        )
        frames.append(merged)
    columns = [
        *COMPARISON_KEYS,
        "qty_t_baci",
        "qty_t_comtrade",
        "ratio",
        "value_usd_baci",
        "value_usd_comtrade",
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    denominator = out["qty_t_comtrade"].where(out["qty_t_comtrade"] > 0)
    out["ratio"] = out["qty_t_baci"] / denominator
    return out.loc[:, columns].sort_values(list(COMPARISON_KEYS)).reset_index(drop=True)
