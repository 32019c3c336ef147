"""Benchmark the streamed BACI extract on a SYNTHETIC 10-million-row year (aims: < 30 s, < 2 GiB).

    .venv/bin/python bench/bench_baci.py [--rows 10000000] [--keep DIR]

Writes a release-shaped zip (year CSV + country table) into a temporary folder with numpy/pyarrow,
then runs the extract in a fresh child process so that its peak RSS is the extract's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from reeflow.acquire.baci import country_member, year_member  # noqa: E402
from reeflow.commodities import load_commodities  # noqa: E402

VERSION = "209901"  # SYNTHETIC release version
YEAR = 2021
COUNTRY_CODES = np.arange(4, 900, 4, dtype=np.int32)  # ~220 SYNTHETIC exporters/importers


def synthetic_year(rows: int, table_codes: list[str], seed: int = 1) -> pa.Table:
    """BACI's columns with ~5000 distinct HS6 codes, the table's among them, 10% missing q."""
    rng = np.random.default_rng(seed)
    universe = np.unique(
        np.concatenate([rng.integers(10_000, 980_000, 5_000), [int(c) for c in table_codes if len(c) == 6]])
    ).astype(np.int32)
    q = pc.cast(pa.array(np.round(rng.gamma(0.5, 50.0, rows), 3)), pa.string())
    q = pc.if_else(pa.array(rng.random(rows) < 0.1), pa.scalar("          NA"), q)
    return pa.table(
        {
            "t": pa.array(np.full(rows, YEAR, dtype=np.int32)),
            "i": pa.array(rng.choice(COUNTRY_CODES, rows)),
            "j": pa.array(rng.choice(COUNTRY_CODES, rows)),
            "k": pa.array(rng.choice(universe, rows)),
            "v": pa.array(np.round(rng.gamma(0.5, 200.0, rows), 3)),
            "q": q,
        }
    )


def write_release(folder: Path, rows: int, table_codes: list[str]) -> Path:
    """Stream the CSV straight into a deflated zip member (as CEPII ships it), block by block."""
    archive = folder / f"BACI_HS92_V{VERSION}.zip"
    table = synthetic_year(rows, table_codes)
    countries = "country_code,country_name,country_iso2,country_iso3\n" + "".join(
        f"{c},Synthetic {c},S{c % 10},X{c % 1000:02d}\n" for c in COUNTRY_CODES
    )
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(year_member(YEAR, VERSION), "w", force_zip64=True) as member:
            pacsv.write_csv(table, member, write_options=pacsv.WriteOptions(quoting_style="none"))
        zf.writestr(country_member(VERSION), countries)
    return archive


def child_extract(archive: str, out_dir: str) -> None:
    """Runs in the child: register then extract, print timings as JSON."""
    from reeflow.acquire.baci import extract_year, register_archive

    codes = list(load_commodities(ROOT / "config" / "commodities.csv")["hs_code"])
    out = Path(out_dir)
    t0 = time.perf_counter()
    register_archive(archive, out / "archive_provenance.json", version=VERSION)
    t1 = time.perf_counter()
    table = extract_year(archive, YEAR, codes, out / f"{YEAR}.parquet", out / "archive_provenance.json")
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {"register_s": t1 - t0, "extract_s": t2 - t1, "rows_kept": table.num_rows, "peak_rss": peak}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=2, metavar=("ARCHIVE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_extract(*args.child)
        return
    codes = list(load_commodities(ROOT / "config" / "commodities.csv")["hs_code"])
    with tempfile.TemporaryDirectory(prefix="bench_baci_") as tmp:
        t0 = time.perf_counter()
        archive = write_release(Path(tmp), args.rows, codes)
        gen_s = time.perf_counter() - t0
        with zipfile.ZipFile(archive) as zf:
            csv_bytes = zf.getinfo(year_member(YEAR, VERSION)).file_size
        t1 = time.perf_counter()
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(archive), tmp],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t1
        stats = json.loads(run.stdout.strip().splitlines()[-1])
    gib = stats["peak_rss"] / 2**30
    print(f"rows {args.rows:,}  csv {csv_bytes / 2**20:,.0f} MiB  (zip generated in {gen_s:.1f} s)")
    print(f"register (sha256 + member list): {stats['register_s']:.2f} s")
    print(f"extract (stream + filter + write): {stats['extract_s']:.2f} s, kept {stats['rows_kept']:,} rows")
    print(f"child wall time {wall:.2f} s, peak RSS {gib:.3f} GiB")
    ok = stats["extract_s"] < 30 and gib < 2
    print("aims (< 30 s, < 2 GiB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
