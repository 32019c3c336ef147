"""Atomic file writing, hashing and provenance shared by every step.

Every writer goes through a temporary file in the destination folder and an atomic rename, so an
interrupted job never leaves a file that Snakemake (or a reader) would take for complete.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

log = logging.getLogger(__name__)
_UMASK = os.umask(0)
os.umask(_UMASK)


class ReeflowError(RuntimeError):
    """A problem with inputs or configuration that the user can fix; the message says how."""


def utc_now() -> str:
    """ISO 8601 UTC timestamp with seconds, the format used in every provenance record."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs follow the umask
        _fsync(tmp)  # the bytes are on disk before the name says the file is complete
        os.replace(tmp, target)
        _fsync(target.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path, directory: bool = False) -> None:
    """Flush a file (or a folder's entries, best effort: not every system can) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def remove_stale_parts(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer of ``path`` left beside it (``.{name}.XXXXXXXX.part``,
    atomic_path's names); returns what was deleted. Only the rule that writes ``path`` calls this,
    so no live writer of the same file can be running."""
    target = Path(path)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.[A-Za-z0-9_]{{8}}\.part$")
    removed = []
    for entry in target.parent.iterdir():
        if pattern.match(entry.name) and entry.is_file():
            size = entry.stat().st_size
            entry.unlink(missing_ok=True)
            removed.append(entry)
            log.warning("%s: removed %s (%d bytes) left by an interrupted run", target, entry.name, size)
    return removed


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n")


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write Parquet with pyarrow; the index is dropped because every table has explicit keys."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False)


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """CSV through pyarrow's writer (pandas' is ~10x slower on the million-row indicator tables);
    object columns of mixed content fall back to pandas."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        return
    write_arrow_csv_atomic(table, path, [str(c) for c in df.columns])


def write_arrow_csv_atomic(table: Any, path: str | os.PathLike[str], header: Sequence[str] | None = None) -> None:
    """A pyarrow Table as CSV, the header written as pandas writes it (quoted only where needed)."""
    import pyarrow.csv as pacsv

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerow(list(header if header is not None else table.column_names))
        with open(tmp, "ab") as handle:
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False, quoting_style="needed"))


def concat_parquet_to_csv(paths: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str], what: str) -> None:
    """Per-year Parquet tables, stacked in order, as one CSV: read and written by pyarrow alone, since
    a round trip through pandas doubles the time on the millions of rows of the global indicator
    tables. Empty tables are left out (unless all are empty); the files are checked as read_table does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for each in map(os.fspath, paths):
        with _read_errors(each, what):
            tables.append(pq.read_table(each))
    kept = [t for t in tables if t.num_rows] or tables[:1]
    if not kept:
        write_csv_atomic(pd.DataFrame(), path)
        return
    try:
        stacked = pa.concat_tables(kept, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # years typed differently: let pandas reconcile them
        write_csv_atomic(pd.concat([t.to_pandas() for t in kept], ignore_index=True), path)
        return
    write_arrow_csv_atomic(stacked, path)


# Code columns read from CSV as text: HS codes keep their leading zeros ("080510").
CODE_DTYPES: dict[str, type] = {"hs6": str, "hs_code": str, "cmd_code": str}


def read_table(
    path: str | os.PathLike[str], columns: Sequence[str] = (), what: str = "table", only: bool = False
) -> pd.DataFrame:
    """The one checked reader of the workflow's tables (Parquet or CSV).

    A missing file, a corrupt one, or one without a contract column is a ReeflowError naming the
    file, the columns and the fix (rerun the rule that writes it), never a KeyError three steps on.
    An empty CSV is an empty table with the contract's columns (a step with no data yet). ``only``
    reads just ``columns`` (Parquet), which keeps global-scale reads small."""
    path = os.fspath(path)
    with _read_errors(path, what):
        try:
            if path.endswith(".parquet"):
                if only and columns:
                    import pyarrow.parquet as pq

                    present = set(pq.read_schema(path).names)
                    _check_columns(path, present, columns, what)
                    return pd.read_parquet(path, columns=list(columns))
                table = pd.read_parquet(path)
            else:
                table = pd.read_csv(path, dtype=CODE_DTYPES)
        except pd.errors.EmptyDataError:
            table = pd.DataFrame(columns=list(columns))
    if table.empty and len(table.columns) == 0:
        table = pd.DataFrame(columns=list(columns))
    _check_columns(path, set(table.columns), columns, what)
    return table


@contextlib.contextmanager
def _read_errors(path: str, what: str) -> Iterator[None]:
    """A missing or unreadable table as a ReeflowError naming the file and the fix."""
    try:
        yield
    except FileNotFoundError as err:
        raise ReeflowError(f"{path}: no such file ({what}); run the rule that writes it") from err
    except ReeflowError:
        raise
    except Exception as err:  # pyarrow and the CSV parser raise several types for corrupt files
        raise ReeflowError(f"{path}: cannot read {what} ({err}); delete it and rerun the rule that writes it") from err


def _check_columns(path: str, present: set[str], columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise ReeflowError(
            f"{path}: missing column(s) {', '.join(missing)} of the {what}; expected {', '.join(columns)} "
            "(docs/data-model.md); rerun the rule that writes it"
        )


def loads_json(data: str | bytes) -> Any:
    """Parse JSON text with orjson, about twice as fast as the standard library on the hundreds of
    MB of a global raw year; what orjson refuses but Python's json accepts (the NaN literals that
    ``json.dumps`` writes) falls back to the standard library, so both read the same documents."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return loads_json(Path(path).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"{err.msg} at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else "not UTF-8 text"
        raise ReeflowError(
            f"{path}: not valid JSON ({where}); delete the file and rerun the step that writes it"
        ) from err


def keep_freed_memory(mmap_mb: int = 64, trim_mb: int = 256) -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (returns whether it could).

    A job that allocates and frees the same large arrays hundreds of times (the shock Monte Carlo:
    one network of 249 x 249 x 5 flows per draw) otherwise gets each one as fresh pages from the
    kernel, which are then zeroed and faulted in again: 300k page faults and a seventh of its CPU
    time. Arrays up to ``mmap_mb`` come from the heap instead of their own mapping, and up to
    ``trim_mb`` of free heap is kept; peak memory is unchanged. A no-op off glibc (macOS, musl)."""
    import ctypes
    import ctypes.util

    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters (malloc.h)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(m_mmap_threshold, mmap_mb << 20)) and bool(mallopt(m_trim_threshold, trim_mb << 20))


def setup_logging(log_file: str | os.PathLike[str] | None = None, level: int = logging.INFO) -> None:
    """Send this process's log records (and uncaught tracebacks) to the rule's log file."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    import sys

    def _excepthook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
        logging.getLogger("reeflow").error("uncaught error", exc_info=(exc_type, exc, tb))

    sys.excepthook = _excepthook
