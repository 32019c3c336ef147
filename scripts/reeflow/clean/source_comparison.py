"""BACI against Comtrade: what the choice of trade source does to the flows and the countries' totals.

Both sources go through the same steps as the MFA: BACI's reconciled flows and Comtrade's cleaned
flows (after the mirror rule, re-exports left out) are converted to t REO-eq with the commodity
table's central coefficients (reeflow.mfa.balance.reo_flows), then set side by side per flow (year,
stage, code, exporter, importer) and per country (year, country, exports or imports). A flow or a
country only one source knows is kept with the other side missing, never dropped, so the tables show
coverage gaps as well as disagreements.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reeflow.acquire.baci import clean_baci_year
from reeflow.commodities import cleaning_records
from reeflow.io import ReeflowError
from reeflow.mfa.balance import reo_flows
from reeflow.schemas import TRADE_COLUMNS

FLOW_KEYS: tuple[str, ...] = ("year", "stage", "hs6", "exporter", "importer")
FLOW_COMPARISON_COLUMNS: tuple[str, ...] = (
    *FLOW_KEYS, "qty_t_baci", "qty_t_comtrade", "ratio", "value_usd_baci", "value_usd_comtrade",
    "reo_t_baci", "reo_t_comtrade", "reo_ratio",
)  # fmt: skip
COUNTRY_COMPARISON_COLUMNS: tuple[str, ...] = (
    "year", "country", "direction", "reo_t_baci", "reo_t_comtrade", "ratio",
)  # fmt: skip
SOURCES: tuple[str, ...] = ("baci", "comtrade")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den where den > 0, else NaN (a flow one source lacks has no ratio)."""
    return num / den.where(den > 0)


def _comtrade_trade(path: str | os.PathLike[str]) -> pd.DataFrame:
    trade = pd.read_parquet(path)
    missing = [c for c in TRADE_COLUMNS if c not in trade.columns]
    if missing:
        raise ReeflowError(f"{path}: missing column(s) {missing} of the trade table; rerun rule clean_trade")
    return trade


def _flows(trade: pd.DataFrame, commodities: pd.DataFrame, year: int, source: str) -> pd.DataFrame:
    """Tonnes, value and t REO-eq per flow of one source (re-exports and self-trade left out as in the MFA)."""
    rows = trade[~trade["reexport"].astype(bool) & (trade["exporter"] != trade["importer"])]
    keys = ["year", "hs6", "exporter", "importer"]
    amounts = rows.groupby(keys, as_index=False)[["qty_t", "value_usd"]].sum(min_count=1)
    reo = reo_flows(trade, commodities, year, f"{source} {year}")
    reo = reo.groupby([*keys, "stage"], as_index=False)["reo_t"].sum()
    out = amounts.merge(reo, on=keys, how="left")
    out["stage"] = out["stage"].fillna("")
    return out.rename(columns={"qty_t": f"qty_t_{source}", "value_usd": f"value_usd_{source}",
                               "reo_t": f"reo_t_{source}"})  # fmt: skip


def compare_flows(
    baci_paths: Sequence[str | os.PathLike[str]],
    trade_paths: Sequence[str | os.PathLike[str]],
    commodities: pd.DataFrame,
    impute_missing_weights: bool,
) -> pd.DataFrame:
    """BACI's and Comtrade's tonnes, values and t REO-eq side by side per flow (outer join).

    ``ratio`` = BACI / Comtrade tonnes, ``reo_ratio`` the same in REO-eq; NaN where either side is
    missing or Comtrade says zero. ``commodities``: the full table (reeflow.commodities.load_commodities)."""
    records = cleaning_records(commodities)
    frames = []
    for baci_path, trade_path in zip(baci_paths, trade_paths, strict=True):
        baci = clean_baci_year(baci_path, records, impute_missing_weights)
        comtrade = _comtrade_trade(trade_path)
        years = sorted(set(baci["year"]) | set(comtrade["year"]))
        for year in years:
            left = _flows(baci[baci["year"] == year], commodities, year, "baci")
            right = _flows(comtrade[comtrade["year"] == year], commodities, year, "comtrade")
            merged = left.merge(right, on=["year", "hs6", "exporter", "importer"], how="outer",
                                suffixes=("", "_c"))  # fmt: skip
            merged["stage"] = merged["stage"].where(merged["stage"].fillna("") != "", merged["stage_c"])
            frames.append(merged.drop(columns="stage_c"))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in FLOW_COMPARISON_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out["stage"] = out["stage"].fillna("").astype(str)
    out["ratio"] = _ratio(out["qty_t_baci"], out["qty_t_comtrade"])
    out["reo_ratio"] = _ratio(out["reo_t_baci"], out["reo_t_comtrade"])
    out["year"] = out["year"].astype("int64")
    return out.loc[:, list(FLOW_COMPARISON_COLUMNS)].sort_values(list(FLOW_KEYS)).reset_index(drop=True)


def compare_countries(flows: pd.DataFrame) -> pd.DataFrame:
    """Each country's exports and imports in t REO-eq per year by each source, side by side.

    A side with no flow at all for the country and year is NaN (not measured), not 0."""
    parts = []
    for direction, column in (("exports", "exporter"), ("imports", "importer")):
        grouped = flows.groupby(["year", column], as_index=False)[["reo_t_baci", "reo_t_comtrade"]].sum(min_count=1)
        parts.append(grouped.rename(columns={column: "country"}).assign(direction=direction))
    if not parts or flows.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COUNTRY_COMPARISON_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["ratio"] = _ratio(out["reo_t_baci"], out["reo_t_comtrade"])
    return out.loc[:, list(COUNTRY_COMPARISON_COLUMNS)].sort_values(["year", "direction", "country"]).reset_index(
        drop=True
    )


def headline_gap(countries: pd.DataFrame, country: str = "USA") -> dict[str, Any]:
    """For the log: a country's exports and imports summed over the years by each source."""
    rows = countries[countries["country"] == country]
    out: dict[str, Any] = {"country": country}
    for direction in ("exports", "imports"):
        part = rows[rows["direction"] == direction]
        for source in SOURCES:
            out[f"{direction}_{source}_t"] = float(np.nansum(part[f"reo_t_{source}"].to_numpy(dtype=float)))
    return out
