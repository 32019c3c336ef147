"""Benchmark the whole workflow at global scale on SYNTHETIC data; prints figures, asserts nothing.

What it measures (issue: scale, speed, partial reruns):
1. the full run from cached raw data (cold), and again with nothing to do (warm);
2. wall time and peak memory of each rule (Snakemake's own benchmark files);
3. a rerun after one year's raw Comtrade data change (and which jobs it plans);
4. the Monte Carlo (the sensitivity rules' share of the run);
5. side by side, the per-year balance and origin tracing against a straightforward pandas
   implementation of the same computation, checking that both give the same numbers.

Usage: python bench/run_bench.py [--workdir DIR] [--years 2000 2022] [--partners 25] [--draws 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from reeflow.commodities import STAGES, load_commodities  # noqa: E402
from reeflow.io import sha256_bytes  # noqa: E402
from reeflow.mfa.balance import trace_year, year_balance, yields_vector  # noqa: E402
from reeflow.settings import MfaSettings  # noqa: E402
from workflow_helpers import planned_jobs  # noqa: E402


def write_config(workdir: Path, years: Sequence[int], draws: int) -> None:
    config = {
        "years": {"start": years[0], "end": years[1]},
        "commodities": str(ROOT / "config" / "commodities.csv"),
        # the raw cache is already filled: nothing is downloaded; the synthetic world has no tariff lines
        "comtrade": {"source": "api", "tariffline": {"enabled": False}},
        "usgs": {"source": "files",
                 "files": [{"kind": "table", "path": "data/synthetic-global-production.csv", "edition": "SYN"}]},
        "production": {"stage_statistics": str(ROOT / "config" / "stage_statistics.csv")},
        "end_uses": {name: str(ROOT / "config" / f"{stem}.csv") for name, stem in
                     (("shares", "end_uses"), ("products", "end_use_products"), ("proxies", "end_use_proxies"))},
        "sensitivity": {"draws": draws, "years": [years[0], years[1]]},
        "figures": {"sankey_years": [years[1]], "network_years": [years[1]]},
    }  # fmt: skip
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(workdir: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--cores", "2"]  # fmt: skip
    start = time.perf_counter()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("COMTRADE_API_KEY", None)
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        print((run.stdout + run.stderr)[-5000:])
        raise SystemExit(f"snakemake {' '.join(args)} failed")
    return elapsed, run


def peak_child_rss_mb() -> float:
    """Largest resident set of any finished child process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def rule_table(workdir: Path) -> pd.DataFrame:
    """Per rule: jobs, summed and longest wall time, peak memory, from benchmarks/**/*.tsv."""
    rows = []
    for path in (workdir / "benchmarks").rglob("*.tsv"):
        frame = pd.read_csv(path, sep="\t")
        rule = path.parent.name + "/" + path.stem.split("_")[0] if path.parent.name != "benchmarks" else path.stem
        name = path.stem
        for token in ("_19", "_20"):
            name = name.split(token)[0]
        rows.append({"rule": f"{path.parent.name}/{name}", "s": float(frame["s"].iloc[0]),
                     "max_rss_mb": float(frame["max_rss"].iloc[0]) if "max_rss" in frame else np.nan})  # fmt: skip
        del rule
    table = pd.DataFrame(rows)
    return (
        table.groupby("rule")
        .agg(jobs=("s", "size"), total_s=("s", "sum"), max_job_s=("s", "max"), peak_mb=("max_rss_mb", "max"))
        .sort_values("total_s", ascending=False)
    )


def change_one_year(workdir: Path, year: int) -> None:
    """A revised year: one record's net weight changes, as a Comtrade revision would."""
    path = workdir / "resources" / "raw" / "comtrade" / f"{year}.json"
    raw = json.loads(path.read_text())
    response = raw["responses"][0]
    body = json.loads(response["body"])
    body["data"][0]["netWgt"] = float(body["data"][0]["netWgt"]) * 1.5 + 1.0
    response["body"] = json.dumps(body)
    response["sha256"] = sha256_bytes(response["body"].encode())
    path.write_text(json.dumps(raw))


# ------------------------------------------------------------------------------------------------
# The straightforward pandas implementation that the numpy/sparse one is measured against
# ------------------------------------------------------------------------------------------------


def pandas_reo(trade: pd.DataFrame, commodities: pd.DataFrame) -> pd.DataFrame:
    """REO-eq of every supply flow by a merge with the commodity table (same rules as reeflow.mfa.balance)."""
    rows = trade[~trade["reexport"] & (trade["exporter"] != trade["importer"])]
    rows = rows.merge(commodities, left_on="hs6", right_on="hs_code", how="inner", suffixes=("", "_table"))
    items = rows["qty_items"].fillna(rows["qty_t"] / rows["item_mass_t"])
    units = rows["qty_t"].where(rows["unit_basis"] == "t", items).fillna(0.0)
    rows = rows.assign(reo_t=units * rows["content_central"] * rows["share_central"])
    return rows[["exporter", "importer", "hs6", "stage", "reo_t"]]


def pandas_balance(trade: pd.DataFrame, commodities: pd.DataFrame, mining: pd.Series,
                   yields: dict[str, float]) -> pd.DataFrame:
    """Production, imports, exports and apparent consumption by groupby, one stage after another."""
    flows = pandas_reo(trade, commodities)
    countries = sorted(set(flows["exporter"]) | set(flows["importer"]) | set(mining.index))
    rows = []
    feed = pd.Series(0.0, index=countries)
    for stage in STAGES:
        part = flows[flows["stage"] == stage]
        imports = part.groupby("importer")["reo_t"].sum().reindex(countries, fill_value=0.0)
        exports = part.groupby("exporter")["reo_t"].sum().reindex(countries, fill_value=0.0)
        if stage == "mining":
            production = mining.reindex(countries, fill_value=0.0)
        else:
            production = feed * yields[stage]
        apparent = (production + imports - exports).clip(lower=0.0)  # clip_and_report, the default rule
        feed = apparent
        for country in countries:
            rows.append({"country": country, "stage": stage, "production_t": production[country],
                         "imports_t": imports[country], "exports_t": exports[country],
                         "apparent_consumption_t": apparent[country]})  # fmt: skip
    return pd.DataFrame(rows)


def pandas_trace(traces: list, countries: list[str], origin_countries: np.ndarray,
                 tol: float = 1e-13, max_iter: int = 5000) -> list[pd.DataFrame]:
    """Origin shares by fixed-point iteration over DataFrames: a country's supply mix is its own
    production's mix plus the mixes its imports carry, repeated until nothing changes. It solves
    the same scaled system as reeflow.mfa.tracing (the scaled flow matrices are taken from there)."""
    labels = [countries[i] for i in origin_countries] + ["UNATTRIBUTED"]
    previous = pd.DataFrame(0.0, index=countries, columns=labels)
    for j, i in enumerate(origin_countries):
        previous.iloc[i, j] = 1.0
    results = []
    for trace in traces:
        z = trace.z.tocoo()
        links = pd.DataFrame({"exporter": np.asarray(countries)[z.row], "importer": np.asarray(countries)[z.col],
                              "flow": z.data})  # fmt: skip
        supply = pd.Series(trace.supply, index=countries)
        production = pd.Series(trace.production, index=countries)
        own = previous.mul(production, axis=0)
        empty = (production > 0) & (previous.sum(axis=1) < 0.5)
        own.loc[empty, "UNATTRIBUTED"] = production[empty]
        origins = pd.DataFrame(0.0, index=countries, columns=labels)
        for _ in range(max_iter):
            carried = links.merge(origins, left_on="exporter", right_index=True)
            inflow = carried[labels].mul(carried["flow"], axis=0).groupby(carried["importer"]).sum()
            total = own.add(inflow.reindex(countries, fill_value=0.0), fill_value=0.0)
            new = total.div(supply.where(supply > 0), axis=0).fillna(0.0)
            change = float((new - origins).abs().to_numpy().max())
            origins = new
            if change < tol:
                break
        results.append(origins)
        previous = origins
    return results


def best_of(function, repeat: int = 3):  # type: ignore[no-untyped-def]
    """The result and the fastest of ``repeat`` timings (the first run also pays for imports)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, min(times)


def compare_year(workdir: Path, year: int, mfa_config: dict) -> dict[str, float]:
    trade = pd.read_parquet(workdir / "resources" / "clean" / "trade" / f"{year}.parquet")
    production = pd.read_parquet(workdir / "resources" / "clean" / "production.parquet")
    commodities = load_commodities(ROOT / "config" / "commodities.csv")
    settings = MfaSettings.from_mapping(mfa_config)
    result, balance_fast_s = best_of(lambda: year_balance(trade, production, commodities, year, settings))
    (traces, origin_countries), trace_fast_s = best_of(lambda: trace_year(result))
    yields = dict(zip(STAGES[1:], yields_vector(mfa_config["yields"])[1:]))
    mining = production[production["year"] == year].groupby("country")["value_t_reo"].sum()
    slow, balance_slow_s = best_of(lambda: pandas_balance(trade, commodities, mining, yields))
    slow_origins, trace_slow_s = best_of(lambda: pandas_trace(traces, result.countries, origin_countries))

    fast = result.balance_table.set_index(["country", "stage"])
    slow = slow.set_index(["country", "stage"]).reindex(fast.index)
    balance_diff = float((fast["apparent_consumption_t"] - slow["apparent_consumption_t"]).abs().max())
    origin_diff = max(float(np.abs(t.origins - s.to_numpy()).max()) for t, s in zip(traces, slow_origins))
    return {"year": year, "countries": len(result.countries), "flows": len(result.flows),
            "balance_fast_s": balance_fast_s, "balance_pandas_s": balance_slow_s,
            "trace_fast_s": trace_fast_s, "trace_pandas_s": trace_slow_s,
            "max_abs_diff_balance_t": balance_diff, "max_abs_diff_origin_share": origin_diff}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="reuse or keep this folder (default: a temporary one)")
    parser.add_argument("--years", nargs=2, type=int, default=(2000, 2022))
    parser.add_argument("--partners", type=int, default=25)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="reeflow-bench-"))
    years = list(range(args.years[0], args.years[1] + 1))
    print(f"# reeflow benchmark, SYNTHETIC global world in {workdir}")
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_global.py"), str(workdir), "--years",
                    str(years[0]), str(years[-1]), "--partners", str(args.partners)], check=True)  # fmt: skip
    print(f"generated in {time.perf_counter() - start:.1f} s (not part of any figure below)")
    write_config(workdir, (years[0], years[-1]), args.draws)

    cold_s, _ = snakemake(workdir)
    cold_peak = peak_child_rss_mb()
    warm_s, warm = snakemake(workdir)
    nothing = "Nothing to be done" in warm.stdout + warm.stderr
    rules = rule_table(workdir)

    change_year = years[len(years) // 2]
    change_one_year(workdir, change_year)
    _, plan = snakemake(workdir, "-n")
    rerun_s, _ = snakemake(workdir)

    mfa_config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["mfa"]
    comparison = compare_year(workdir, change_year, mfa_config)

    sens = rules[rules.index.str.startswith("sensitivity/")]
    print("\n## Whole workflow (2 cores)")
    print(f"full run from cached raw data, cold: {cold_s:8.1f} s   (aim < 90 s, issue #13); "
          f"peak memory of one process: {cold_peak:.0f} MB")  # fmt: skip
    print(f"warm run, nothing to do:             {warm_s:8.1f} s   ('Nothing to be done': {nothing})")
    print(f"rerun after {change_year}'s raw data changed:  {rerun_s:8.1f} s   (aim < 15 s, issue #13)")
    print(f"  planned jobs: {planned_jobs(plan)}")
    print(f"Monte Carlo ({args.draws} draws x {len(years)} years): {sens['total_s'].sum():.1f} s of job time, "
          f"peak {sens['peak_mb'].max():.0f} MB")  # fmt: skip
    print("\n## Per rule (Snakemake benchmark files, cold run)")
    print(rules.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"\n## Balance and origin tracing, {comparison['year']} "
          f"({comparison['countries']} countries, {comparison['flows']} flows)")  # fmt: skip
    for what in ("balance", "trace"):
        fast, slow = comparison[f"{what}_fast_s"], comparison[f"{what}_pandas_s"]
        print(f"{what:8s} reeflow {fast:8.3f} s   pandas {slow:8.3f} s   speed-up {slow / fast:6.1f}x")
    print(f"same numbers: max |diff| balance {comparison['max_abs_diff_balance_t']:.2e} t, "
          f"origin shares {comparison['max_abs_diff_origin_share']:.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
