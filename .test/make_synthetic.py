"""Write the SYNTHETIC demo world in .test/data/ (seeded, so the output is byte-for-byte reproducible).

Nothing here is real data. Six countries trade rare-earth goods along the supply chain for four
years; the files have exactly the formats of the real sources (UN Comtrade v1 JSON envelopes and
CSV exports, a USGS MCS world-production CSV, a generic production table), so the whole workflow
can run offline on any machine:  python .test/make_synthetic.py .test && snakemake -c2 -d .test

Usage: python .test/make_synthetic.py [TARGET_DIR] [--scale N]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from reeflow.acquire.raw import V1_FIELDS  # noqa: E402

SEED = 20240201
YEARS = (2018, 2019, 2020, 2021)
# Comtrade numeric code, ISO3, name
COUNTRIES = {
    "USA": (842, "United States"),
    "CHN": (156, "China"),
    "JPN": (392, "Japan"),
    "DEU": (276, "Germany"),
    "AUS": (36, "Australia"),
    "MYS": (458, "Malaysia"),
}
# Mine production, t REO (synthetic, loosely shaped like the real world)
MINING = {"CHN": 132000.0, "USA": 26000.0, "AUS": 20000.0, "MYS": 300.0}
# (exporter, importer, hs code, base quantity in tonnes of goods or items, unit)
LINKS: list[tuple[str, str, str, float, str]] = [
    ("USA", "CHN", "2846", 40000.0, "kg"),  # concentrate booked as compounds by the exporter
    ("AUS", "MYS", "253090", 900000.0, "kg"),
    ("AUS", "CHN", "261220", 3000.0, "kg"),
    ("MYS", "JPN", "284690", 9000.0, "kg"),
    ("CHN", "JPN", "284690", 20000.0, "kg"),
    ("CHN", "USA", "284610", 6000.0, "kg"),
    ("CHN", "USA", "284690", 4000.0, "kg"),
    ("CHN", "DEU", "284690", 2500.0, "kg"),
    ("CHN", "JPN", "280530", 4000.0, "kg"),
    ("CHN", "USA", "280530", 600.0, "kg"),
    ("JPN", "USA", "280530", 200.0, "kg"),
    ("CHN", "USA", "850511", 7000.0, "kg"),
    ("CHN", "DEU", "850511", 9000.0, "kg"),
    ("JPN", "DEU", "850511", 2500.0, "kg"),
    ("CHN", "JPN", "850511", 3000.0, "kg"),
    ("JPN", "USA", "850750", 5000.0, "kg"),
    ("DEU", "USA", "870380", 40000.0, "u"),
    ("CHN", "DEU", "870380", 60000.0, "u"),
    ("JPN", "USA", "870340", 150000.0, "u"),
    ("DEU", "CHN", "850231", 120.0, "u"),
    ("CHN", "AUS", "850231", 300.0, "u"),
]
UNIT_VALUE_USD = {  # per tonne, or per item for counted goods
    "2846": 2500.0, "253090": 150.0, "261220": 1200.0, "284690": 9000.0, "284610": 4000.0,
    "280530": 30000.0, "850511": 45000.0, "850750": 12000.0, "870380": 38000.0, "870340": 28000.0,
    "850231": 1.8e6,
}  # fmt: skip
ITEM_MASS_T = {"870380": 1.8, "870340": 1.5, "850231": 150.0}
# Reporters that publish as JSON envelopes; the rest as CSV exports (the two real formats).
JSON_REPORTERS = ("CHN", "USA", "JPN")
FIELDS = V1_FIELDS  # the 47 columns of a Comtrade v1 export


def record(year: int, reporter: str, partner: str, flow: str, code: str, qty: float, unit: str,
           value: float) -> dict[str, object]:
    """One Comtrade v1 record with every field, as the API returns it."""
    rcode, rname = COUNTRIES[reporter]
    pcode, pname = (0, "World") if partner == "WLD" else COUNTRIES[partner]
    items = unit == "u"
    net_kg = qty * ITEM_MASS_T[code] * 1000.0 if items else qty * 1000.0
    return {
        "typeCode": "C", "freqCode": "A", "refPeriodId": int(f"{year}0101"), "refYear": year,
        "refMonth": 52, "period": str(year), "reporterCode": rcode, "reporterISO": reporter,
        "reporterDesc": rname, "flowCode": flow, "flowDesc": "Import" if flow == "M" else "Export",
        "partnerCode": pcode, "partnerISO": "W00" if partner == "WLD" else partner,
        "partnerDesc": pname, "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": "H5", "classificationSearchCode": "HS",
        "isOriginalClassification": True, "cmdCode": code, "cmdDesc": f"synthetic {code}",
        "aggrLevel": len(code), "isLeaf": len(code) == 6, "customsCode": "C00",
        "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0, "motDesc": "TOTAL MOT",
        "qtyUnitCode": 5 if items else 8, "qtyUnitAbbr": "u" if items else "kg",
        "qty": round(qty if items else qty * 1000.0, 3), "isQtyEstimated": False,
        "altQtyUnitCode": -1, "altQtyUnitAbbr": "N/A", "altQty": 0.0, "isAltQtyEstimated": False,
        "netWgt": round(net_kg, 3), "isNetWgtEstimated": False, "grossWgt": 0.0,
        "isGrossWgtEstimated": False, "cifvalue": round(value, 0) if flow == "M" else None,
        "fobvalue": round(value, 0) if flow == "X" else None, "primaryValue": round(value, 0),
        "legacyEstimationFlag": 0, "isReported": True, "isAggregate": False,
    }  # fmt: skip


def year_records(year: int, rng: np.random.Generator, scale: float) -> list[dict[str, object]]:
    """Both declarations of every link (with mirror noise and CIF markup) plus World totals."""
    growth = 1.0 + 0.08 * (year - YEARS[0])
    rows: list[dict[str, object]] = []
    for exporter, importer, code, base, unit in LINKS:
        qty = base * growth * scale * float(rng.lognormal(0.0, 0.15))
        unit_value = UNIT_VALUE_USD[code] * float(rng.lognormal(0.0, 0.1))
        rows.append(record(year, exporter, importer, "X", code, qty, unit, qty * unit_value))
        mirror = qty * float(rng.lognormal(0.0, 0.08))
        if exporter == "USA" and importer == "CHN":
            mirror *= 0.02  # the real-world USA-China HS 2846 mirror gap, in miniature
        if exporter == "AUS" and importer == "MYS" and year == YEARS[-1]:
            continue  # a one-sided flow: the importer did not report it
        rows.append(record(year, importer, exporter, "M", code, mirror, unit, mirror * unit_value * 1.06))
    totals: dict[tuple[str, str, str, str], list[float]] = {}
    for row in rows:
        key = (str(row["reporterISO"]), str(row["flowCode"]), str(row["cmdCode"]), str(row["qtyUnitAbbr"]))
        qty = float(row["qty"]) / (1.0 if row["qtyUnitAbbr"] == "u" else 1000.0)
        acc = totals.setdefault(key, [0.0, 0.0])
        acc[0] += qty
        acc[1] += float(row["primaryValue"])
    for (reporter, flow, code, unit), (qty, value) in sorted(totals.items()):
        if reporter == "USA" and flow == "M" and year in (2020, 2021):
            qty, value = 0.0, 0.0  # a World total that is not the sum of partners (as in the real data)
        rows.append(record(year, reporter, "WLD", flow, code, qty, unit, value))
    return rows


def write_comtrade(target: Path, rng: np.random.Generator, scale: float) -> None:
    folder = target / "data" / "comtrade"
    folder.mkdir(parents=True, exist_ok=True)
    for year in YEARS:
        rows = year_records(year, rng, scale)
        for reporter in COUNTRIES:
            mine = [r for r in rows if r["reporterISO"] == reporter]
            if not mine:
                continue
            if reporter in JSON_REPORTERS:
                envelope = {"elapsedTime": "0.01 secs", "count": len(mine), "data": mine, "error": ""}
                path = folder / f"synthetic-{reporter}-{year}.json"
                path.write_text(json.dumps(envelope, separators=(",", ":")) + "\n", encoding="utf-8")
            else:
                path = folder / f"synthetic-{reporter}-{year}.csv"
                with path.open("w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=FIELDS)
                    writer.writeheader()
                    for row in mine:  # CSV exports from getFinalData leave ISO and descriptions empty
                        writer.writerow({**row, "reporterISO": "", "partnerISO": "", "reporterDesc": "",
                                         "partnerDesc": "", "cmdDesc": ""})


def write_usgs(target: Path, rng: np.random.Generator, scale: float) -> None:
    folder = target / "data" / "usgs"
    folder.mkdir(parents=True, exist_ok=True)
    names = {"USA": "United States", "CHN": "China", "AUS": "Australia", "MYS": "Malaysia"}
    production = {
        (year, iso): MINING[iso] * scale * (1.0 + 0.1 * (year - YEARS[0])) * float(rng.lognormal(0, 0.05))
        for year in YEARS
        for iso in MINING
    }
    with (folder / "synthetic-production-table.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["year", "country", "value_t_reo", "source"])
        for year in YEARS[:2]:
            for iso in MINING:
                writer.writerow([year, names[iso], round(production[year, iso]), "SYNTHETIC national statistics"])
            writer.writerow([year, "World", round(sum(production[year, i] for i in MINING)), "SYNTHETIC"])
    # An MCS data-release world file (UTF-8 with BOM, quoted thousands) for the last two years.
    y1, y2 = YEARS[-2], YEARS[-1]
    kind = "Rare earths, mine production, rare-earth-oxide equivalent, metric tons"
    with (folder / "synthetic-mcs-raree_world.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Source", "Country", "Type", f"Prod_t_{y1}", f"Prod_t_est_{y2}", "Prod_notes",
                         "Reserves_t", "Reserves_notes"])
        for iso in MINING:
            writer.writerow(["MCS2099", names[iso], kind, f"{production[y1, iso]:,.0f}",
                             f"{production[y2, iso]:,.0f}", "SYNTHETIC", "1,000,000", ""])
        writer.writerow(["MCS2099", "World total (rounded)", kind,
                         f"{sum(production[y1, i] for i in MINING):,.0f}",
                         f"{sum(production[y2, i] for i in MINING):,.0f}", "", "NA", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default=str(Path(__file__).parent))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every quantity")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    target = Path(args.target)
    write_comtrade(target, rng, args.scale)
    write_usgs(target, rng, args.scale)
    print(f"SYNTHETIC demo data written to {target / 'data'}")


if __name__ == "__main__":
    main()
