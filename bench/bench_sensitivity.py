"""Benchmark the sensitivity step at global scale on SYNTHETIC clean trade tables (not real data).

Writes, per year, a SYNTHETIC resources/clean/trade/{year}.parquet with every pair of ~230
exporters x 250 importers x every commodity-table code (dense: the worst case; real REE trade is
sparse), two mirror declarations that disagree, one-sided and imputed rows, re-exports and item
counts. Then times exactly what the workflow runs: draw the samples once, one `run_year` per year
(read Parquet, collapse, evaluate every draw, write), `collect`, and one-at-a-time plus Sobol for
three years. Prints wall times and peak memory (ru_maxrss of this process).

Usage: python bench/bench_sensitivity.py [--draws 1000] [--years 23] [--exporters 230]
       [--importers 250] [--sobol-n 1024] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from reeflow.sensitivity import montecarlo as sens  # noqa: E402
from reeflow.settings import SensitivitySpace  # noqa: E402

YIELDS = {"separation": 0.95, "metal": 0.80, "intermediate": 0.90, "final": 0.95}


def synthetic_trade_year(year: int, exporters: np.ndarray, importers: np.ndarray, space: sens.ParameterSpace,
                         rng: np.random.Generator) -> pd.DataFrame:
    """One SYNTHETIC dense year: every exporter x importer x code, with messy mirror declarations."""
    codes = np.array(space.codes)
    ex, im, cd = (a.ravel() for a in np.meshgrid(exporters, importers, codes, indexing="ij"))
    keep = ex != im
    ex, im, cd = ex[keep], im[keep], cd[keep]
    n = len(ex)
    q_imp = rng.lognormal(2.0, 1.5, n)
    q_exp = q_imp * rng.lognormal(0.0, 0.5, n)
    q_imp[rng.random(n) < 0.2] = np.nan
    q_exp[rng.random(n) < 0.2] = np.nan
    is_item = np.isin(cd, codes[np.array(space.unit_basis) == "item"])
    qty_t = np.where(np.isnan(q_imp), q_exp, q_imp)
    items_imp = np.where(is_item, np.round(q_imp / 1.6), np.nan)
    items_exp = np.where(is_item, np.round(q_exp / 1.6), np.nan)
    frame = pd.DataFrame({
        "year": year, "exporter": ex, "importer": im, "hs6": cd,
        "qty_t": qty_t, "qty_items": np.where(np.isnan(items_imp), items_exp, items_imp), "basis": "importer",
        "qty_t_importer": q_imp, "qty_t_exporter": q_exp, "items_importer": items_imp, "items_exporter": items_exp,
        "imputed": rng.random(n) < 0.1, "reexport": rng.random(n) < 0.03,
    })  # fmt: skip
    frame["imputed_importer"] = frame["imputed"] & ~np.isnan(q_imp)  # per side, as reconcile writes them
    frame["imputed_exporter"] = frame["imputed"] & np.isnan(q_imp)
    return frame


def synthetic_production(years: list[int], countries: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """SYNTHETIC mine production (t REO) for a tenth of the countries, every year."""
    miners = countries[: max(2, len(countries) // 10)]
    grid = pd.MultiIndex.from_product([years, miners], names=["year", "country"]).to_frame(index=False)
    return grid.assign(stage="mining", value_t_reo=rng.lognormal(8, 2, len(grid)), source="synthetic",
                       edition="synthetic", flag="reported")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--years", type=int, default=23)
    parser.add_argument("--exporters", type=int, default=230)
    parser.add_argument("--importers", type=int, default=250)
    parser.add_argument("--sobol-n", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    space = sens.space_from_config(ROOT / "config" / "commodities.csv", SensitivitySpace.from_mapping({
        "yields": YIELDS,
        "trade": {"mirror_rule": "importer_first", "impute_missing_weights": True},
        "sensitivity": {"yield_range": 0.10, "mirror_rules": list(sens.MIRROR_RULES), "vary_imputation": True,
                        "p_include_imputed": 0.5},
    }))  # fmt: skip
    names = np.array([f"C{i:03d}" for i in range(max(args.exporters, args.importers))])
    names[:2] = ["USA", "CHN"]
    exporters, importers = names[: args.exporters], names[: args.importers]
    years = list(range(2000, 2000 + args.years))
    rng = np.random.default_rng(20240201)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        production = work / "production.parquet"
        synthetic_production(years, exporters, rng).to_parquet(production)
        trade_paths = {}
        for year in years:
            trade_paths[year] = work / f"trade-{year}.parquet"
            synthetic_trade_year(year, exporters, importers, space, rng).to_parquet(trade_paths[year])
        rows = len(pd.read_parquet(trade_paths[years[0]], columns=["hs6"]))
        print(f"SYNTHETIC input: {len(years)} years x {rows:,} flows ({args.exporters} x {args.importers} x "
              f"{len(space.codes)} codes), written in {time.perf_counter() - t0:.1f} s (not timed below)")
        mem_after_input = peak_mb()

        t0 = time.perf_counter()
        sens.write_samples(space, args.draws, 1, work / "samples.parquet")
        t_samples = time.perf_counter() - t0

        per_year = []
        out_paths = []
        for year in years:
            t1 = time.perf_counter()
            out_paths.append(work / f"draws-{year}.parquet")
            sens.run_year(trade_paths[year], production, work / "samples.parquet", space, year, out_paths[-1])
            per_year.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        sens.collect(out_paths, work / "draws.parquet", work / "unc.csv", work / "prob.csv")
        t_collect = time.perf_counter() - t1
        t_mc = time.perf_counter() - t0

        chosen = {y: str(trade_paths[y]) for y in years[-3:]}
        t1 = time.perf_counter()
        sens.run_oat(chosen, production, space, work / "oat.csv")
        t_oat = time.perf_counter() - t1
        t1 = time.perf_counter()
        sens.run_sobol(chosen, production, space, args.sobol_n, 1, work / "sobol.csv")
        t_sobol = time.perf_counter() - t1

    total = t_mc + t_oat + t_sobol
    print(f"draws: {args.draws}; parameter groups: {len(sens.parameter_groups(space))}")
    print(f"samples                 {t_samples:7.2f} s")
    print(f"per-year jobs           {sum(per_year):7.2f} s total, {np.mean(per_year):.2f} s mean, "
          f"{max(per_year):.2f} s max (1 core; Snakemake runs years in parallel)")
    print(f"collect                 {t_collect:7.2f} s")
    print(f"one-at-a-time (3 years) {t_oat:7.2f} s")
    print(f"Sobol (3 years, N={args.sobol_n}) {t_sobol:7.2f} s")
    print(f"wall time, all steps sequential on 1 core: {total:.1f} s; on 2 cores about "
          f"{t_samples + sum(per_year) / 2 + t_collect + max(t_oat, t_sobol):.1f} s")
    print(f"peak memory (RSS): {peak_mb():.0f} MB (of which input generation {mem_after_input:.0f} MB)")


if __name__ == "__main__":
    main()
