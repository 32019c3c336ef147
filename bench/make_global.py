"""Write a SYNTHETIC global-scale world (seeded) for benchmarks: every Comtrade reporter, every code.

Nothing here is real data. About 230 reporters x 250 partners x every commodity-table code x 23
years: each reporter declares imports from and exports to a random set of partners per code (REE
trade is sparse: most pairs never trade a given code), mirror declarations disagree by lognormal
noise and some flows are declared by one side only. The answers are written straight into the
workflow's raw cache (``resources/raw/comtrade/{year}.json``) as verbatim Comtrade v1 envelopes
with provenance, as the download step would have cached them, plus a generic production table, so
a benchmark times the full run "from cached raw data".

Usage: python bench/make_global.py WORKDIR [--years 2000 2022] [--partners 25] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pycountry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from reeflow.acquire.comtrade import comtrade_code_from_iso3  # noqa: E402
from reeflow.commodities import load_commodities  # noqa: E402

N_REPORTERS = 230
N_PARTNERS = 250
ITEM_CODES_MASS = 1.6  # t per item for counted goods (cars, wind sets use their own masses in the table)


def countries(n: int) -> list[tuple[str, int]]:
    """The first ``n`` ISO countries (alphabetical) with their Comtrade codes."""
    out = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_3):
        try:
            out.append((country.alpha_3, comtrade_code_from_iso3(country.alpha_3)))
        except Exception:  # noqa: BLE001 - a code Comtrade does not use
            continue
        if len(out) == n:
            break
    return out


def base_record(year: int, code: str, revision: str) -> dict[str, object]:
    return {
        "typeCode": "C", "freqCode": "A", "refPeriodId": int(f"{year}0101"), "refYear": year, "refMonth": 52,
        "period": str(year), "reporterISO": "", "reporterDesc": "", "flowDesc": "", "partnerISO": "",
        "partnerDesc": "", "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": revision, "classificationSearchCode": "HS", "isOriginalClassification": True,
        "cmdCode": code, "cmdDesc": "synthetic", "aggrLevel": len(code), "isLeaf": True, "customsCode": "C00",
        "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0, "motDesc": "TOTAL MOT",
        "isQtyEstimated": False, "altQtyUnitCode": -1, "altQtyUnitAbbr": "N/A", "altQty": 0.0,
        "isAltQtyEstimated": False, "isNetWgtEstimated": False, "grossWgt": 0.0, "isGrossWgtEstimated": False,
        "legacyEstimationFlag": 0, "isReported": True, "isAggregate": False,
    }  # fmt: skip


def revision_of(year: int) -> str:
    for start, rev in ((2022, "H6"), (2017, "H5"), (2012, "H4"), (2007, "H3"), (2002, "H2"), (1996, "H1")):
        if year >= start:
            return rev
    return "H0"


def year_records(year: int, codes: list[tuple[str, str]], world: list[tuple[str, int]], partners: int,
                 rng: np.random.Generator) -> list[dict[str, object]]:
    """Both declarations of a sparse random bilateral network for every applicable code."""
    reporters = world[:N_REPORTERS]
    n = len(world)
    records: list[dict[str, object]] = []
    revision = revision_of(year)
    for code, basis in codes:
        template = base_record(year, code, revision)
        for e_idx in range(len(reporters)):
            k = min(int(rng.poisson(partners)), n - 1)
            if k == 0:
                continue
            importers = rng.choice(np.delete(np.arange(n), e_idx), size=k, replace=False)
            true_q = rng.lognormal(3.0, 2.0, size=k)  # tonnes (or items for counted goods)
            unit_value = float(rng.lognormal(8.0, 1.0))
            for imp, q in zip(importers, true_q):
                for flow, reporter, partner in (("X", e_idx, imp), ("M", imp, e_idx)):
                    if reporter >= len(reporters) or rng.random() < 0.1:
                        continue  # not a reporter, or one-sided
                    qq = float(q * rng.lognormal(0.0, 0.2))
                    items = basis == "item"
                    rec = dict(template)
                    rec.update(
                        reporterCode=world[reporter][1], partnerCode=world[partner][1], flowCode=flow,
                        qtyUnitCode=5 if items else 8, qtyUnitAbbr="u" if items else "kg",
                        qty=round(qq if items else qq * 1000, 3),
                        netWgt=round((qq * ITEM_CODES_MASS if items else qq) * 1000, 3),
                        primaryValue=round(qq * unit_value, 0),
                        cifvalue=round(qq * unit_value, 0) if flow == "M" else None,
                        fobvalue=round(qq * unit_value, 0) if flow == "X" else None,
                    )
                    records.append(rec)
    return records


def write_year(workdir: Path, year: int, records: list[dict[str, object]], chunk: int = 200_000) -> None:
    """The raw cache format of the download step: verbatim envelopes with provenance."""
    responses = []
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        body = json.dumps({"elapsedTime": "0 secs", "count": len(part), "data": part, "error": ""})
        responses.append({
            "kind": "api", "url": f"synthetic://bench/{year}/{start}", "endpoint": "data", "params": {},
            "retrieved_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "status": 200,
            "count": len(part), "sha256": hashlib.sha256(body.encode()).hexdigest(), "body": body,
        })  # fmt: skip
    out = workdir / "resources" / "raw" / "comtrade" / f"{year}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": "api", "year": year, "scope": {"synthetic": True}, "responses": responses}))


def write_production(workdir: Path, years: range, world: list[tuple[str, int]], rng: np.random.Generator) -> Path:
    path = workdir / "data" / "synthetic-global-production.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    producers = rng.choice(len(world), size=20, replace=False)
    base = rng.lognormal(8.0, 1.5, size=len(producers))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["year", "country", "value_t_reo", "source"])
        for year in years:
            for idx, value in zip(producers, base):
                name = pycountry.countries.get(alpha_3=world[idx][0]).name
                writer.writerow([year, name, round(value * (1 + 0.03 * (year - years[0]))), "SYNTHETIC benchmark"])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("--years", nargs=2, type=int, default=(2000, 2022))
    parser.add_argument("--partners", type=int, default=25, help="mean partners per reporter and code")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    rng = np.random.default_rng(args.seed)
    world = countries(N_PARTNERS)
    table = load_commodities(ROOT / "config" / "commodities.csv")
    years = range(args.years[0], args.years[1] + 1)
    total = 0
    for year in years:
        revision = revision_of(year)
        codes = [
            (row.hs_code, row.unit_basis)
            for row in table.itertuples()
            if len(row.hs_code) == 6 and (not row.revisions or revision in row.revisions.split("|"))
        ]
        records = year_records(year, codes, world, args.partners, rng)
        write_year(workdir, year, records)
        total += len(records)
    write_production(workdir, years, world, rng)
    print(f"SYNTHETIC global world: {total:,} records over {len(years)} years in {workdir}")


if __name__ == "__main__":
    main()
