"""Validation: the modelled US trade and balance, year by year, against USGS salient statistics.

The model's trade comes from UN Comtrade mirror declarations (or BACI); the USGS Mineral
Commodity Summaries (MCS) salient statistics for the United States come from the U.S. Census
Bureau's trade returns converted to REO equivalent by USGS specialists, and from USGS industry
surveys. The model never reads the salient trade figures, so they are an independent check of
the trade side of the model and of the choice of mirror rule (``trade.mirror_rule``).

Stage/statistic correspondence (MCS 2024 Rare Earths data release metadata,
``mcs2024-raree_salient_meta.xml``, attribute definitions; the MCS 2026 combined release
carries the same items under ``Statistics_detail``). All USGS figures are t REO equivalent, like
the model's REO-eq (units x content x share of the commodity table, ``config/commodities.csv``):

=================================  =====================================  ====================
indicator (model, United States)   model stages (commodity-table stage)   USGS salient item
=================================  =====================================  ====================
us_exports_ores_compounds          exports, mining + separation           ``Exports_Ores-Compounds_t`` "Exports:
                                                                          Ores and compounds"
us_exports_metals_alloys           exports, metal                         ``Exports_Alloys_t`` "Metals: Ferrocerium,
                                                                          alloys" + ``Exports_Metals_t`` "Metals:
                                                                          Rare-earth metals, scandium, and yttrium"
us_imports_compounds               imports, separation                    ``Imports_Compounds_t`` "Imports: Compounds"
us_imports_metals_alloys           imports, metal                         ``Imports_Alloys_t`` + ``Imports_Metals_t``
us_exports_total                   exports, mining + separation + metal   the three export items, or, before MCS
                                                                          2022, DS140 "exports" (all forms)
us_imports_total                   imports, mining + separation + metal   the three import items, or DS140 "imports"
us_net_exports_ores_compounds      (exports - imports), mining + sep.     exports of ores and compounds - imports of
                                                                          compounds (sign compared, no log ratio)
us_net_exports_total               (exports - imports), mining..metal     total exports - total imports
us_net_exporter_concentrate        net exports, mining + separation       ``NIR_Concentrate``: code "E" = net
                                                                          exporter (sign compared)
us_consumption_compounds_metals    separation apparent consumption +      ``Consump_Compounds-Metals_t`` "apparent,
                                   metal imports - metal exports          compounds and metals; production +
                                   (central model, balance table)         imports - exports"
us_mine_production                 mining production (balance)            ``USprod_Concentrate_t`` / DS140
                                                                          production: NOT independent (input)
china_mine_production              CHN mining production (balance)        the production table: NOT independent
world_mine_production              sum of mining production (balance)     world total (production world check):
                                                                          NOT independent
=================================  =====================================  ====================

Why mining + separation for "ores and compounds": the US books Mountain Pass concentrate as HS
2846 (a separation-stage code) while partners book it as ores (mining stage), so only the sum of
both stages matches the USGS item whatever the mirror rule picks. The stage of a code is always
read from the commodity table (national 8-digit lines included), never from a list of codes here.

Trade indicators are recomputed under every mirror rule (``reeflow.mfa.us_trade``, the same choice
and BACI-style weights as ``reeflow.clean.reconcile.reconcile``); consumption and production come from
the central model (``results/mfa/balance.parquet``, the configured rule) only, because they need
the whole balance. Each USGS item is taken from the most recently revised edition that gives it
(``reeflow.clean.production.edition_rank``); a code-only cell (W, NA) is no value. A year without a
USGS value has NaN in ``usgs_t``, ``difference_t`` and ``log_ratio``, never 0.

``log_ratio`` = ln((model_t + 1) / (usgs_t + 1)): the 1 t offset keeps a model zero against a
USGS figure finite (a large miss) and two zeros at 0. The fit of a mirror rule is the median
|log_ratio| over the independent trade indicators and years where both exist (``in_fit``;
component items always, the totals only in years without component items, so no tonne counts
twice). The best rule is supported when that median is within ``ln(TOLERANCE_FACTOR)``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from reeflow.clean.production import edition_rank
from reeflow.clean.reconcile import RULES
from reeflow.io import ReeflowError, read_table, write_csv_atomic
from reeflow.mfa.us_trade import COUNTRY
from reeflow.schemas import US_TRADE_BY_RULE_COLUMNS, empty_table

log = logging.getLogger(__name__)

COMMODITY = "Rare Earths"
TOLERANCE_FACTOR = 2.0  # a rule "fits" when its typical miss is within a factor of 2
LOG_OFFSET_T = 1.0

VALIDATION_COLUMNS: list[str] = [
    "year", "indicator", "mirror_rule", "model_t", "usgs_t", "usgs_edition", "usgs_statistic",
    "usgs_code", "difference_t", "log_ratio", "independent", "in_fit", "sign_agrees", "note",
]  # fmt: skip
FIT_COLUMNS: list[str] = [
    "scope", "mirror_rule", "n", "median_abs_log_ratio", "mean_abs_log_ratio", "typical_factor", "mean_log_ratio",
    "share_within_tolerance", "n_status", "status_agreement", "rank", "supported", "verdict",
]  # fmt: skip

# indicator -> (direction, stages) for the trade indicators recomputed under every rule
TRADE_INDICATORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "us_exports_ores_compounds": ("exports", ("mining", "separation")),
    "us_exports_metals_alloys": ("exports", ("metal",)),
    "us_imports_compounds": ("imports", ("separation",)),
    "us_imports_metals_alloys": ("imports", ("metal",)),
    "us_exports_total": ("exports", ("mining", "separation", "metal")),
    "us_imports_total": ("imports", ("mining", "separation", "metal")),
}
COMPONENTS: dict[str, tuple[str, ...]] = {
    "us_exports_total": ("us_exports_ores_compounds", "us_exports_metals_alloys"),
    "us_imports_total": ("us_imports_compounds", "us_imports_metals_alloys"),
}
NET_INDICATORS: dict[str, tuple[str, str]] = {  # net = exports indicator - imports indicator
    "us_net_exports_ores_compounds": ("us_exports_ores_compounds", "us_imports_compounds"),
    "us_net_exports_total": ("us_exports_total", "us_imports_total"),
}
STATUS_INDICATOR = "us_net_exporter_concentrate"
STATUS_STATISTIC = "nir_concentrate"
STATUS_NET = "us_net_exports_ores_compounds"

# indicator -> alternatives, each a tuple of salient statistics summed within one edition
USGS_ITEMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "us_exports_ores_compounds": (("exports_ores_compounds",),),
    "us_exports_metals_alloys": (("exports_alloys", "exports_metals"),),
    "us_imports_compounds": (("imports_compounds",),),
    "us_imports_metals_alloys": (("imports_alloys", "imports_metals"),),
    "us_exports_total": (("exports_ores_compounds", "exports_alloys", "exports_metals"), ("exports",)),
    "us_imports_total": (("imports_compounds", "imports_alloys", "imports_metals"), ("imports",)),
    "us_consumption_compounds_metals": (("consumption_compounds_metals",),),
    "us_mine_production": (("production_concentrate",), ("production_mine",)),
}
FIT_INDICATORS: tuple[str, ...] = (
    "us_exports_ores_compounds", "us_exports_metals_alloys", "us_imports_compounds", "us_imports_metals_alloys",
)  # fmt: skip
SUMMARY_SCOPES: tuple[str, ...] = ("trade", "trade_covered", "trade_complete")
# The scope whose verdict names the rule the validation supports (README, report).
DECISIVE_SCOPE = "trade_complete"
NOT_INDEPENDENT: frozenset[str] = frozenset({"us_mine_production", "china_mine_production", "world_mine_production"})
SALIENT_COLUMNS: tuple[str, ...] = ("year", "commodity", "statistic", "value", "code", "edition")


def read_us_trade(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """The per-year US trade tables under every rule, gathered (the validation's trade input)."""
    frames = [read_table(p, US_TRADE_BY_RULE_COLUMNS, "US trade by mirror rule (rerun mfa_year)", only=True)
              for p in paths]  # fmt: skip
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_table(US_TRADE_BY_RULE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def modelled_trade_indicators(by_stage: pd.DataFrame, years: Iterable[int]) -> pd.DataFrame:
    """year, indicator, model_t for TRADE_INDICATORS and NET_INDICATORS from ``us_trade_by_stage``.
    Every year asked for gets a value (0 where the model has no US trade that year)."""
    years = sorted({int(y) for y in years})
    values: dict[str, pd.Series] = {}
    for name, (direction, stages) in TRADE_INDICATORS.items():
        rows = by_stage[by_stage["stage"].isin(stages)]
        values[name] = rows.groupby("year")[f"{direction}_t"].sum().reindex(years, fill_value=0.0)
    for name, (exp, imp) in NET_INDICATORS.items():
        values[name] = values[exp] - values[imp]
    frames = [pd.DataFrame({"year": years, "indicator": name, "model_t": series.to_numpy(dtype=float)})
              for name, series in values.items()]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# USGS figures


def salient_rare_earths(salient: pd.DataFrame) -> pd.DataFrame:
    """The Rare Earths chapter's salient rows (not Yttrium, Scandium or the heavy-REE chapter)."""
    missing = [c for c in SALIENT_COLUMNS if c not in salient.columns]
    if missing:
        raise ReeflowError(f"usgs_salient table: missing column(s) {missing}; rerun clean_production")
    rows = salient[salient["commodity"].astype(str).str.strip().str.lower() == COMMODITY.lower()].copy()
    rows["year"] = pd.to_numeric(rows["year"], errors="coerce").astype("Int64")
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    rows["code"] = rows["code"].fillna("").astype(str)
    rows["edition"] = rows["edition"].astype(str)
    return rows


def usgs_values(salient: pd.DataFrame, items: Mapping[str, Sequence[Sequence[str]]] = USGS_ITEMS) -> pd.DataFrame:
    """year, indicator, usgs_t, usgs_edition, usgs_statistic: for each indicator and year, the sum
    of one alternative's statistics from the most recent edition giving all of them as numbers
    (ties: the earlier alternative). Years without one are absent (NaN after a merge, never 0)."""
    rows = salient_rare_earths(salient)
    rows = rows[rows["value"].notna()]
    out = []
    for indicator, alternatives in items.items():
        candidates = []
        for order, stats in enumerate(alternatives):
            part = rows[rows["statistic"].isin(stats)]
            if part.empty:
                continue
            grouped = part.groupby(["year", "edition"])
            summed = grouped["value"].sum().to_frame("usgs_t")
            summed["n"] = grouped["statistic"].nunique()
            summed = summed[summed["n"] == len(set(stats))].reset_index()
            summed["order"] = order
            summed["usgs_statistic"] = "+".join(stats)
            candidates.append(summed)
        if not candidates:
            continue
        found = pd.concat(candidates, ignore_index=True)
        found["rank"] = found["edition"].map(edition_rank)
        found = found.sort_values(["year", "rank", "order", "edition"], ascending=[True, False, True, True])
        best = found.drop_duplicates("year", keep="first")
        out.append(pd.DataFrame({
            "year": best["year"].astype(int).to_numpy(), "indicator": indicator,
            "usgs_t": best["usgs_t"].to_numpy(dtype=float), "usgs_edition": best["edition"].to_numpy(),
            "usgs_statistic": best["usgs_statistic"].to_numpy(),
        }))  # fmt: skip
    if not out:
        return empty_usgs()
    return pd.concat(out, ignore_index=True)


def empty_usgs() -> pd.DataFrame:
    return pd.DataFrame({"year": pd.Series(dtype="int64"), "indicator": pd.Series(dtype=str),
                         "usgs_t": pd.Series(dtype=float), "usgs_edition": pd.Series(dtype=str),
                         "usgs_statistic": pd.Series(dtype=str)})


def usgs_net_exporter(salient: pd.DataFrame, statistic: str = STATUS_STATISTIC) -> pd.DataFrame:
    """year, usgs_code, usgs_edition, usgs_net_exporter from the net import reliance item: code
    "E" (net exporter) is True, a numeric reliance (or ">95" style code) False; latest edition."""
    rows = salient_rare_earths(salient)
    rows = rows[(rows["statistic"] == statistic) & (rows["value"].notna() | (rows["code"] != ""))]
    rows = rows[~rows["code"].str.upper().isin(["NA", "W", "XX", "--"])]
    if rows.empty:
        return pd.DataFrame({"year": pd.Series(dtype="int64"), "usgs_code": pd.Series(dtype=str),
                             "usgs_edition": pd.Series(dtype=str), "usgs_net_exporter": pd.Series(dtype=bool)})
    rows = rows.assign(rank=rows["edition"].map(edition_rank))
    rows = rows.sort_values(["year", "rank", "edition"], ascending=[True, False, True]).drop_duplicates("year")
    code = rows["code"].where(rows["code"] != "", rows["value"].map(lambda v: f"{v:g}"))
    return pd.DataFrame({
        "year": rows["year"].astype(int).to_numpy(), "usgs_code": code.to_numpy(),
        "usgs_edition": rows["edition"].to_numpy(),
        "usgs_net_exporter": (rows["code"].str.upper() == "E").to_numpy(),
    })  # fmt: skip


# --------------------------------------------------------------------------------------------
# Central model (balance) indicators


def balance_indicators(
    balance: pd.DataFrame, years: Iterable[int], country: str = COUNTRY
) -> pd.DataFrame:
    """year, indicator, model_t from the central balance: US consumption of compounds and metals
    (separation apparent consumption + metal imports - metal exports) and mine production
    (US, China, world sum)."""
    years = sorted({int(y) for y in years})
    b = balance.copy()
    b["year"] = pd.to_numeric(b["year"], errors="coerce").astype(int)
    b = b[b["year"].isin(years)]

    def pick(col: str, stage: str, who: str | None) -> pd.Series:
        rows = b[b["stage"] == stage]
        if who is not None:
            rows = rows[rows["country"] == who]
        return rows.groupby("year")[col].sum().reindex(years, fill_value=0.0)

    values = {
        "us_consumption_compounds_metals": pick("apparent_consumption_t", "separation", country)
        + pick("imports_t", "metal", country) - pick("exports_t", "metal", country),
        "us_mine_production": pick("production_t", "mining", country),
        "china_mine_production": pick("production_t", "mining", "CHN"),
        "world_mine_production": pick("production_t", "mining", None),
    }
    return pd.concat([pd.DataFrame({"year": years, "indicator": k, "model_t": v.to_numpy(dtype=float)})
                      for k, v in values.items()], ignore_index=True)  # fmt: skip


def input_production_values(production: pd.DataFrame, world_check: pd.DataFrame | None) -> pd.DataFrame:
    """The mine production the model was given (China from the production table, the world total
    from the world check): reference values for the NOT independent production indicators."""
    frames = []
    china = production[production["country"].astype(str) == "CHN"]
    if not china.empty:
        frames.append(pd.DataFrame({
            "year": china["year"].astype(int).to_numpy(), "indicator": "china_mine_production",
            "usgs_t": pd.to_numeric(china["value_t_reo"], errors="coerce").to_numpy(dtype=float),
            "usgs_edition": china["edition"].astype(str).to_numpy(), "usgs_statistic": "production table (input)",
        }))  # fmt: skip
    if world_check is not None and not world_check.empty and "world_total" in world_check.columns:
        world = world_check[pd.to_numeric(world_check["world_total"], errors="coerce").notna()]
        frames.append(pd.DataFrame({
            "year": world["year"].astype(int).to_numpy(), "indicator": "world_mine_production",
            "usgs_t": pd.to_numeric(world["world_total"]).to_numpy(dtype=float),
            "usgs_edition": world.get("world_edition", pd.Series("", index=world.index)).astype(str).to_numpy(),
            "usgs_statistic": "world total (production world check, input)",
        }))  # fmt: skip
    if not frames:
        return empty_usgs()
    return pd.concat(frames, ignore_index=True).drop_duplicates(["year", "indicator"])


# --------------------------------------------------------------------------------------------
# Comparison and fit


def log_ratio(model_t: npt.ArrayLike, usgs_t: npt.ArrayLike) -> np.ndarray:
    """ln((model + 1 t) / (usgs + 1 t)); NaN where either is missing or negative (net flows)."""
    m = np.asarray(model_t, dtype=float)
    u = np.asarray(usgs_t, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.log((m + LOG_OFFSET_T) / (u + LOG_OFFSET_T))
    return np.where((m >= 0) & (u >= 0), out, np.nan)



def compare(
    model: pd.DataFrame, usgs: pd.DataFrame, status: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The long comparison table (VALIDATION_COLUMNS) from model rows (year, indicator,
    mirror_rule, model_t) and USGS rows (year, indicator, usgs_t, usgs_edition, usgs_statistic)."""
    table = model.merge(usgs, on=["year", "indicator"], how="left")
    for col in ("usgs_edition", "usgs_statistic"):
        table[col] = table[col].astype(object)
    for name, (exp, imp) in NET_INDICATORS.items():  # USGS net = USGS exports - USGS imports
        e = usgs[usgs["indicator"] == exp].set_index("year")
        i = usgs[usgs["indicator"] == imp].set_index("year")
        both = e.index.intersection(i.index)
        mask = table["indicator"] == name
        years = table.loc[mask, "year"]
        table.loc[mask, "usgs_t"] = years.map(e.loc[both, "usgs_t"] - i.loc[both, "usgs_t"]).to_numpy(dtype=float)
        table.loc[mask, "usgs_edition"] = years.map(e.loc[both, "usgs_edition"] + "/" + i.loc[both, "usgs_edition"])
        table.loc[mask, "usgs_statistic"] = f"({exp}) - ({imp})"
    table["usgs_code"] = ""
    if status is not None and not status.empty:
        net = table[table["indicator"] == STATUS_NET][["year", "mirror_rule", "model_t"]]
        rows = net.merge(status, on="year", how="inner")
        if not rows.empty:
            rows = rows.assign(indicator=STATUS_INDICATOR, usgs_t=np.nan, usgs_statistic=STATUS_STATISTIC)
            rows["sign_agrees"] = (rows["model_t"] > 0) == rows["usgs_net_exporter"]
            table = pd.concat([table, rows.drop(columns="usgs_net_exporter")], ignore_index=True)
    table["usgs_code"] = table["usgs_code"].fillna("")
    table["difference_t"] = table["model_t"] - table["usgs_t"]
    is_net = table["indicator"].isin(list(NET_INDICATORS)) | (table["indicator"] == STATUS_INDICATOR)
    table["log_ratio"] = np.where(is_net, np.nan, log_ratio(table["model_t"], table["usgs_t"]))
    net_sign = np.sign(table["model_t"]) == np.sign(table["usgs_t"])
    if "sign_agrees" not in table.columns:
        table["sign_agrees"] = pd.NA
    table["sign_agrees"] = table["sign_agrees"].astype("boolean")
    net_rows = table["indicator"].isin(list(NET_INDICATORS)) & table["usgs_t"].notna()
    table.loc[net_rows, "sign_agrees"] = net_sign[net_rows]
    table["independent"] = ~table["indicator"].isin(NOT_INDEPENDENT)
    table["in_fit"] = in_fit(table)
    table["note"] = notes(table)
    table["usgs_edition"] = table["usgs_edition"].fillna("")
    table["usgs_statistic"] = table["usgs_statistic"].fillna("")
    table = table.sort_values(["indicator", "mirror_rule", "year"], kind="mergesort").reset_index(drop=True)
    return table[VALIDATION_COLUMNS]


def in_fit(table: pd.DataFrame) -> pd.Series:
    """Rows that enter the rule fit: independent trade items with both values; a total only in a
    year where none of its component items has a USGS value (so no tonne counts twice)."""
    has = table["usgs_t"].notna() & table["log_ratio"].notna() & table["mirror_rule"].isin(RULES)
    result = has & table["indicator"].isin(FIT_INDICATORS)
    for total, parts in COMPONENTS.items():
        part_years = set(table.loc[table["indicator"].isin(parts) & table["usgs_t"].notna(), "year"])
        result |= has & (table["indicator"] == total) & ~table["year"].isin(part_years)
    return result


def notes(table: pd.DataFrame) -> pd.Series:
    note = pd.Series("", index=table.index, dtype=object)
    note[table["usgs_t"].isna() & (table["indicator"] != STATUS_INDICATOR)] = "no USGS value for this year"
    note[table["indicator"].isin(NOT_INDEPENDENT)] = "not independent: USGS mine production is a model input"
    note[(table["indicator"] == "us_consumption_compounds_metals")] = (
        "central model only (balance table); separation apparent consumption + metal net imports"
    )
    note[table["indicator"].isin(list(NET_INDICATORS))] = "net flow: sign compared, no log ratio"
    note[table["indicator"] == STATUS_INDICATOR] = 'USGS net import reliance, concentrate: "E" = net exporter'
    return note


def complete_us_flows(balance: pd.DataFrame, country: str = "USA") -> set[tuple[int, str, str]]:
    """(year, "imports"/"exports", stage) whose US flow the US declared itself, to every partner its
    World total names (reeflow.mfa.coverage flags in the balance table). Only there can a gap between
    model and USGS, which compiles the same US declarations, be laid at the mirror rule's door."""
    if "unreported_flows" not in balance.columns:
        return set()
    rows = balance[balance["country"] == country]
    out = set()
    for year, stage, flags in zip(rows["year"], rows["stage"], rows["unreported_flows"].fillna(""), strict=True):
        tokens = set(str(flags).split("+"))
        out |= {(int(year), name, str(stage)) for name in ("imports", "exports")
                if not tokens & {name, f"{name}_partial"}}  # fmt: skip
    return out


def is_complete(indicator: str, year: int, complete: set[tuple[int, str, str]]) -> bool:
    """Whether every stage of a trade indicator is fully declared by the US in ``year``."""
    if indicator not in TRADE_INDICATORS:
        return False
    direction, stages = TRADE_INDICATORS[indicator]
    return all((int(year), direction, stage) in complete for stage in stages)


def rule_fit(
    validation: pd.DataFrame,
    tolerance_factor: float = TOLERANCE_FACTOR,
    complete: set[tuple[int, str, str]] | None = None,
) -> pd.DataFrame:
    """Per mirror rule and scope: n, median and mean log ratio, share within the tolerance,
    net-exporter agreement (share of years whose model sign matches USGS's "E"), rank and verdict.

    Scopes: ``trade`` (every in-fit row: the validation's answer), ``trade_covered`` (only the
    year x indicator cells where the model has US trade under every rule, so that gaps in the
    trade data, which no rule can fix, do not swamp the differences between rules), then each
    indicator alone. ``trade_complete`` (the decisive scope) keeps the cells whose US flow the US
    declared in full that year (``complete``, from complete_us_flows): elsewhere the model misses
    partners no rule can restore."""
    tol = math.log(tolerance_factor)
    rows = validation[validation["in_fit"].astype(bool)]
    status = validation[(validation["indicator"] == STATUS_INDICATOR) & validation["sign_agrees"].notna()]
    covered = rows.groupby(["year", "indicator"])["model_t"].transform(lambda m: bool((m > 0).all()))
    pairs = zip(rows["indicator"], rows["year"], strict=True)
    full = [is_complete(str(i), int(y), complete or set()) for i, y in pairs]
    scopes = [
        ("trade", rows), ("trade_covered", rows[covered.astype(bool)]),
        ("trade_complete", rows[np.asarray(full, dtype=bool)]),
    ] + [
        (name, rows[rows["indicator"] == name]) for name in [*FIT_INDICATORS, *COMPONENTS]
    ]
    out = []
    for scope, part in scopes:
        for rule in RULES:
            lr = part.loc[part["mirror_rule"] == rule, "log_ratio"].to_numpy(dtype=float)
            st = status.loc[status["mirror_rule"] == rule, "sign_agrees"].astype(bool)
            n = int(len(lr))
            out.append({
                "scope": scope, "mirror_rule": rule, "n": n,
                "median_abs_log_ratio": float(np.median(np.abs(lr))) if n else np.nan,
                "mean_abs_log_ratio": float(np.mean(np.abs(lr))) if n else np.nan,
                "typical_factor": float(np.exp(np.median(np.abs(lr)))) if n else np.nan,
                "mean_log_ratio": float(np.mean(lr)) if n else np.nan,
                "share_within_tolerance": float(np.mean(np.abs(lr) <= tol)) if n else np.nan,
                "n_status": int(len(st)) if scope in SUMMARY_SCOPES else 0,
                "status_agreement": float(st.mean()) if scope in SUMMARY_SCOPES and len(st) else np.nan,
            })  # fmt: skip
    fit = pd.DataFrame(out, columns=FIT_COLUMNS[:-3])
    fit["rank"] = fit.groupby("scope", group_keys=False)[["median_abs_log_ratio", "mean_abs_log_ratio"]].apply(
        _rank
    ).astype("Int64")
    fit["supported"] = (fit["rank"] == 1) & (fit["median_abs_log_ratio"] <= tol)
    fit["supported"] = fit["supported"].fillna(False).astype(bool)
    fit["verdict"] = ""
    for scope, part in fit.groupby("scope", sort=False):
        fit.loc[part.index, "verdict"] = _verdict(part, tolerance_factor, tol) if scope in SUMMARY_SCOPES else ""
    return fit[FIT_COLUMNS]


def _rank(part: pd.DataFrame) -> pd.Series:
    """Rank by median |log ratio|, ties broken by mean |log ratio| (rounded so float noise ties)."""
    med = part["median_abs_log_ratio"].round(9)
    mean = part["mean_abs_log_ratio"].round(9)
    ok = med.notna() & mean.notna()
    better = [int(((med[ok] < m) | ((med[ok] == m) & (mean[ok] < a))).sum()) for m, a in zip(med, mean)]
    return pd.Series(np.where(ok, 1 + np.asarray(better), np.nan), index=part.index)


def _verdict(part: pd.DataFrame, factor: float, tol: float) -> str:
    valid = part[part["n"] > 0]
    if valid.empty:
        return "no USGS salient trade statistics overlap the modelled US trade: nothing to validate"
    best = valid.sort_values("rank", kind="mergesort")
    top = best.iloc[0]
    tied = best[best["rank"] == top["rank"]]
    names = ", ".join(tied["mirror_rule"])
    head = f"best fit: {names} (median |ln ratio| {top['median_abs_log_ratio']:.3f}, " \
           f"typical factor {top['typical_factor']:.2f}, mean |ln ratio| {top['mean_abs_log_ratio']:.3f}, " \
           f"n={int(top['n'])})"
    if len(tied) > 1:
        head += "; tied rules cannot be told apart by these statistics"
    if top["median_abs_log_ratio"] <= tol:
        return f"{head}; supported: within a factor of {factor:g} of USGS"
    return f"{head}; no rule fits within a factor of {factor:g} of USGS"


# --------------------------------------------------------------------------------------------
# Whole step


def build_validation(
    us_trade: pd.DataFrame,
    salient: pd.DataFrame,
    balance: pd.DataFrame,
    production: pd.DataFrame,
    world_check: pd.DataFrame | None,
    central_rule: str,
    years: Sequence[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(validation, fit) tables from loaded inputs; ``us_trade`` is ``us_trade_by_rules`` of the years."""
    model = []
    for rule in RULES:
        by_stage = us_trade[us_trade["mirror_rule"] == rule]
        model.append(modelled_trade_indicators(by_stage, years).assign(mirror_rule=rule))
    model.append(balance_indicators(balance, years).assign(mirror_rule=central_rule))
    model_table = pd.concat(model, ignore_index=True)
    check_central(model_table, balance, central_rule, years)
    usgs = pd.concat([usgs_values(salient), input_production_values(production, world_check)], ignore_index=True)
    validation = compare(model_table, usgs, usgs_net_exporter(salient))
    fit = rule_fit(validation, complete=complete_us_flows(balance))
    if not validation["usgs_t"].notna().any():
        log.warning("no USGS salient statistic matches the modelled years: the comparison has no reference values")
    return validation, fit


def check_central(model: pd.DataFrame, balance: pd.DataFrame, rule: str, years: Sequence[int]) -> None:
    """Warn when the recomputed trade under the configured rule differs from the balance table."""
    if rule not in RULES or balance.empty:
        return
    b = balance[(balance["country"] == COUNTRY) & balance["stage"].isin(["mining", "separation", "metal"])]
    exports = b.groupby("year")["exports_t"].sum().reindex(sorted(years), fill_value=0.0)
    ours = model[(model["indicator"] == "us_exports_total") & (model["mirror_rule"] == rule)].set_index("year")
    diff = (ours["model_t"] - exports.reindex(ours.index, fill_value=0.0)).abs()
    if (diff > 1e-6 * np.maximum(1.0, exports.reindex(ours.index, fill_value=0.0).abs())).any():
        log.warning("US exports recomputed under %s differ from the balance table in years %s",
                    rule, sorted(diff[diff > 1e-6].index.tolist()))


def run_validation(
    us_trade_paths: Sequence[str | os.PathLike[str]],
    salient_path: str | os.PathLike[str],
    balance_path: str | os.PathLike[str],
    production_path: str | os.PathLike[str],
    world_check_path: str | os.PathLike[str] | None,
    central_rule: str,
    years: Sequence[int],
    validation_path: str | os.PathLike[str],
    fit_path: str | os.PathLike[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the inputs, build both tables, write them atomically (CSV)."""
    world_check = None
    if world_check_path:
        try:
            world_check = pd.read_csv(world_check_path)
        except pd.errors.EmptyDataError:
            world_check = None
    validation, fit = build_validation(
        read_us_trade(us_trade_paths), pd.read_parquet(salient_path),
        pd.read_parquet(balance_path), pd.read_parquet(production_path), world_check, central_rule, years,
    )  # fmt: skip
    write_csv_atomic(validation, validation_path)
    write_csv_atomic(fit, fit_path)
    best = fit[(fit["scope"] == DECISIVE_SCOPE)]
    log.info("validation: %s", best["verdict"].iloc[0] if len(best) else "no fit")
    return validation, fit
