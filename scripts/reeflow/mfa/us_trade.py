"""The US's trade under every mirror rule, per year (resources/mfa/{year}/us_trade_by_rule.parquet).

Why a module of its own: the year's MFA job writes this table (it has the year's trade at hand), and
the validation (reeflow.validate.usgs) gathers it. Kept apart from the validation, the MFA job does
not import the USGS parsers and verdicts, so editing those never reruns every year's MFA (the rule's
code digest follows imports: reeflow.codedigest).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from reeflow.clean.reconcile import RULES, choice_basis, choose_quantity, importer_weights
from reeflow.io import ReeflowError, write_parquet_atomic
from reeflow.mfa.balance import reo_flows
from reeflow.schemas import US_TRADE_BY_RULE_COLUMNS, empty_table

log = logging.getLogger(__name__)

COUNTRY = "USA"


def trade_under_rule(trade: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The trade table with qty_t, qty_items, value_usd and basis chosen again under ``rule``.

    Same choice as ``reconcile.reconcile``: ``choose_quantity`` on both declarations, with the
    ``weighted_mean`` importer weights estimated per year from the supply (non-re-export) flows.
    Rows without any quantity declaration (BACI's single reconciled value) keep their values."""
    if rule not in RULES:
        raise ReeflowError(f"validation: unknown mirror rule {rule!r}; use one of {RULES}")
    out = trade.copy()
    if out.empty:
        return out
    for col in ("qty_t_importer", "qty_t_exporter", "items_importer", "items_exporter",
                "value_usd_importer", "value_usd_exporter"):  # fmt: skip
        if col not in out.columns:
            out[col] = np.nan
    years = out["year"] if "year" in out.columns else pd.Series(0, index=out.index)
    for _, index in out.groupby(years.to_numpy(), sort=True).groups.items():
        rows = out.loc[index]
        qi = rows["qty_t_importer"].to_numpy(dtype=float)
        qe = rows["qty_t_exporter"].to_numpy(dtype=float)
        declared = ~(np.isnan(qi) & np.isnan(qe))
        w = np.full(len(rows), 0.5)
        if rule == "weighted_mean":
            supply = ~rows["reexport"].fillna(False).astype(bool).to_numpy()
            w = importer_weights(rows["exporter"], rows["importer"], np.where(supply, qi, np.nan), qe)
        chosen = {
            "qty_t": choose_quantity(qi, qe, rule, w),
            "qty_items": choose_quantity(rows["items_importer"], rows["items_exporter"], rule, w),
            "value_usd": choose_quantity(rows["value_usd_importer"], rows["value_usd_exporter"], rule, w),
        }
        keep = index[~declared]
        change = index[declared]
        for col, values in chosen.items():
            out.loc[change, col] = values[declared]
        out.loc[change, "basis"] = choice_basis(qi, qe, rule)[declared]
        if len(keep):
            log.debug("%d rows without declarations keep their reconciled values", len(keep))
    return out


def us_trade_by_stage(
    trade: pd.DataFrame, commodities: pd.DataFrame, rule: str, country: str = COUNTRY
) -> pd.DataFrame:
    """Imports and exports of ``country`` per year and stage (t REO-eq) under ``rule``:
    year, stage, imports_t, exports_t. Stages come from the commodity table by code."""
    frames = []
    # only the country's flows are converted; weighted_mean still learns its weights from every flow
    involved = (trade["exporter"] == country) | (trade["importer"] == country)
    chosen = trade_under_rule(trade if rule == "weighted_mean" else trade[involved], rule)
    chosen = chosen[(chosen["exporter"] == country) | (chosen["importer"] == country)]
    for year, rows in chosen.groupby("year", sort=True):
        flows = reo_flows(rows, commodities, year=int(year), source=f"trade {year} ({rule})")
        exports = flows[flows["exporter"] == country].groupby("stage")["reo_t"].sum()
        imports = flows[flows["importer"] == country].groupby("stage")["reo_t"].sum()
        stages = sorted(set(commodities["stage"]))
        frames.append(pd.DataFrame({
            "year": int(year), "stage": stages,
            "imports_t": imports.reindex(stages, fill_value=0.0).to_numpy(dtype=float),
            "exports_t": exports.reindex(stages, fill_value=0.0).to_numpy(dtype=float),
        }))  # fmt: skip
    if not frames:
        return empty_table({name: dtype for name, dtype in US_TRADE_BY_RULE_COLUMNS.items() if name != "mirror_rule"})
    return pd.concat(frames, ignore_index=True)


def us_trade_by_rules(trade: pd.DataFrame, commodities: pd.DataFrame) -> pd.DataFrame:
    """``us_trade_by_stage`` under every mirror rule, one table (US_TRADE_BY_RULE_COLUMNS). Worked
    out per year in the year's MFA job, which has the year's trade at hand, so that a revised year
    recomputes only its own part and the validation only gathers the years."""
    frames = [us_trade_by_stage(trade, commodities, rule).assign(mirror_rule=rule) for rule in RULES]
    return pd.concat(frames, ignore_index=True)[list(US_TRADE_BY_RULE_COLUMNS)]


def write_us_trade_year(
    trade: pd.DataFrame, commodities: pd.DataFrame, out_path: str | os.PathLike[str]
) -> pd.DataFrame:
    """One year's cleaned trade (as the year's MFA job read it) -> its US trade under every mirror
    rule (Parquet, atomically)."""
    table = us_trade_by_rules(trade, commodities)
    write_parquet_atomic(table, out_path)
    return table
