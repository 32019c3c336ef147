"""Per-year material flow balance of REE by country and supply-chain stage, in t REO-eq.

The maths lives in numpy functions on arrays (country-indexed vectors, stage x country matrices,
optionally with trailing axes of Monte Carlo draws) so that the sensitivity analysis can call the
same code over many draws of contents, shares and yields; the pandas functions are thin wrappers
that build those arrays from the trade, production and commodity tables and turn them back into
tables.

Balance rule per country c and stage s (documented in README and docs/data-model.md):

* REO-eq of a flow = quantity x content x share, quantity in t (unit_basis t) or items
  (unit_basis item: qty_items, else qty_t / item_mass_t). Re-export rows are left out.
* production[mining] = USGS mine production (0 where none is listed; a year with none at all is
  an error).
* production[s > mining] = the statistic of the production table where one exists (stage rows of
  resources/clean/production.parquet: MCS US compounds and metals at separation, the cited
  config/stage_statistics.csv), else derived = max(consumption[s-1], 0) x yield[s]; losses are
  max(consumption[s-1], 0) x (1 - yield[s]) either way. Where a statistic is below the derived
  value, the difference is ``unprocessed_t`` (feed the country did not process: stocks or
  unrecorded exports) and a ``statistic_vs_yield`` residual; where it is above, the excess is a
  residual of its own reason (inputs missing from the data). Nothing vanishes:
  feed[s-1] = production[s] + losses[s] + unprocessed[s] - excess[s].
* apparent consumption = production + imports - exports. Where it is negative (a country exports
  more than it produced and imported, usually because of mirror-data gaps or stock draw-down):
  - ``clip_and_report``: the consumption reported and fed to the next stage is 0; the shortfall
    is listed in the residuals table with its reason;
  - ``keep``: the reported consumption stays negative (still listed in residuals); the next
    stage's production is still floored at 0, since a negative production has no meaning.
* Every balance equation is re-checked; a residual beyond ``balance_tolerance`` that no rule
  explains is an error naming the year, country and stage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reeflow.commodities import STAGES, load_commodities
from reeflow.io import ReeflowError, read_table
from reeflow.mfa.coverage import balance_coverage, two_sided_shares
from reeflow.schemas import BALANCE_COLUMNS, FLOW_COLUMNS, MFA_YEAR_TABLES, empty_table
from reeflow.schemas import MFA_TRADE_COLUMNS as TRADE_COLUMNS
from reeflow.settings import MfaSettings

log = logging.getLogger(__name__)

PRODUCTION_COLUMNS: tuple[str, ...] = ("year", "country", "stage", "value_t_reo")
RESIDUAL_DTYPES: dict[str, str] = {"year": "int64", "country": "string", "stage": "string", "kind": "string",
                                   "residual_t": "float64", "reason": "string"}
RESIDUAL_COLUMNS: list[str] = list(RESIDUAL_DTYPES)
NON_COUNTRIES: frozenset[str] = frozenset({"WLD", ""})
NEGATIVE_CONSUMPTION_RULES: tuple[str, ...] = ("clip_and_report", "keep")


# ----------------------------------------------------------------------------------------------
# REO-eq of trade flows
# ----------------------------------------------------------------------------------------------
def _require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReeflowError(f"{source}: missing column(s) {missing}; {fix}")


def supply_trade(trade: pd.DataFrame, source: str = "trade table") -> pd.DataFrame:
    """The trade rows that enter supply balances: no re-exports, no self-trade, no World rows.

    Re-exports are kept apart by cleaning because counting them would count the same tonnes twice
    (once into and once out of the re-exporting hub)."""
    _require_columns(trade, TRADE_COLUMNS, source, "rerun the clean_trade rule (docs/data-model.md)")
    rows = trade[~trade["reexport"].fillna(False).astype(bool)]
    exporter = rows["exporter"].astype(str)
    importer = rows["importer"].astype(str)
    self_trade = exporter == importer
    if self_trade.any():
        log.warning("%s: %d self-trade rows (exporter == importer) left out", source, int(self_trade.sum()))
    world = exporter.isin(NON_COUNTRIES) | importer.isin(NON_COUNTRIES)
    if world.any():
        log.warning("%s: %d rows with World or empty partner left out", source, int(world.sum()))
    return rows[~self_trade & ~world].reset_index(drop=True)


def flow_units(trade: pd.DataFrame, commodities: pd.DataFrame, source: str = "trade table") -> pd.DataFrame:
    """Each supply-trade row with its commodity-table row index (`code_idx`) and `units`.

    Units are what the content coefficient applies to: tonnes (unit_basis t) or items (unit_basis
    item: the count where reported, else tonnes / item_mass_t). Rows whose code is not in the
    (included) commodity table are dropped with a warning: cleaning lists unmapped codes."""
    rows = supply_trade(trade, source)
    codes = commodities["hs_code"].astype(str).tolist()
    position = {code: i for i, code in enumerate(codes)}
    code_idx = rows["hs6"].astype(str).map(position)
    unknown = code_idx.isna()
    if unknown.any():
        log.warning(
            "%s: %d rows with codes outside the commodity table left out: %s",
            source,
            int(unknown.sum()),
            sorted(rows.loc[unknown, "hs6"].astype(str).unique())[:20],
        )
    rows = rows[~unknown].reset_index(drop=True)
    code_idx = code_idx[~unknown].astype(int).to_numpy()
    qty_t = pd.to_numeric(rows["qty_t"], errors="coerce").to_numpy(dtype=float)
    qty_items = pd.to_numeric(rows["qty_items"], errors="coerce").to_numpy(dtype=float)
    if (qty_t < 0).any() or (qty_items < 0).any():
        raise ReeflowError(f"{source}: negative qty_t or qty_items; quantities must be >= 0 (check cleaning)")
    by_item = (commodities["unit_basis"] == "item").to_numpy()[code_idx]
    item_mass = pd.to_numeric(commodities["item_mass_t"], errors="coerce").to_numpy(dtype=float)[code_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        items = np.where(np.isfinite(qty_items), qty_items, qty_t / item_mass)
    units = np.where(by_item, items, qty_t)
    missing = ~np.isfinite(units)
    if missing.any():
        log.warning("%s: %d rows without a quantity count as 0 t", source, int(missing.sum()))
        units = np.where(missing, 0.0, units)
    stage_of_code = commodities["stage"].map({s: i for i, s in enumerate(STAGES)}).to_numpy()
    out = rows.assign(code_idx=code_idx, stage_idx=stage_of_code[code_idx], units=units)
    return out


def reo_flow_arrays(
    units: np.ndarray, code_idx: np.ndarray, content: np.ndarray, share: np.ndarray
) -> np.ndarray:
    """REO-eq of each flow: units x content x share of its code.

    ``units``: shape (n_flows,); ``code_idx``: (n_flows,) index into the commodity table;
    ``content`` and ``share``: (n_codes,) or (n_codes, n_draws). Returns (n_flows,) or
    (n_flows, n_draws): the sensitivity analysis passes one column per draw."""
    content = np.asarray(content, dtype=float)
    share = np.asarray(share, dtype=float)
    units = np.asarray(units, dtype=float).reshape((-1,) + (1,) * (content.ndim - 1))
    return units * content[code_idx] * share[code_idx]


def central_units(
    trade: pd.DataFrame, commodities: pd.DataFrame, source: str = "trade table"
) -> pd.DataFrame:
    """The supply-trade rows (flow_units) with their REO-eq at central coefficients (``reo_t``):
    computed once per year and shared by the flows table and the coverage shares."""
    rows = flow_units(trade, commodities, source)
    return rows.assign(reo_t=reo_flow_arrays(
        rows["units"].to_numpy(),
        rows["code_idx"].to_numpy(),
        commodities["content_central"].to_numpy(dtype=float),
        commodities["share_central"].to_numpy(dtype=float),
    ))  # fmt: skip


def flows_table(rows: pd.DataFrame, year: int) -> pd.DataFrame:
    """Flows in t REO-eq from central_units rows: year, stage, exporter, importer, hs6, reo_t, basis."""
    flows = pd.DataFrame(
        {
            "year": np.full(len(rows), int(year), dtype="int64"),
            "stage": np.asarray(STAGES, dtype=object)[rows["stage_idx"].to_numpy(dtype=int)],
            "exporter": rows["exporter"].astype(str),
            "importer": rows["importer"].astype(str),
            "hs6": rows["hs6"].astype(str),
            "reo_t": rows["reo_t"].to_numpy(dtype=float),
            "basis": rows["basis"].astype(str),
        }
    )
    flows["stage"] = flows["stage"].astype(str)
    flows = flows.groupby(
        ["year", "stage", "exporter", "importer", "hs6", "basis"], as_index=False, sort=True
    )["reo_t"].sum()
    return flows[FLOW_COLUMNS]


def reo_flows(
    trade: pd.DataFrame, commodities: pd.DataFrame, year: int, source: str = "trade table"
) -> pd.DataFrame:
    """Flows in t REO-eq at central coefficients: year, stage, exporter, importer, hs6, reo_t, basis."""
    return flows_table(central_units(trade, commodities, source), year)


# ----------------------------------------------------------------------------------------------
# Balance arrays
# ----------------------------------------------------------------------------------------------
def trade_totals(
    reo: np.ndarray,
    stage_idx: np.ndarray,
    exporter_idx: np.ndarray,
    importer_idx: np.ndarray,
    n_countries: int,
    n_stages: int = len(STAGES),
) -> tuple[np.ndarray, np.ndarray]:
    """Imports and exports per stage and country, shape (n_stages, n_countries[, n_draws])."""
    reo = np.asarray(reo, dtype=float)
    shape = (n_stages, n_countries) + reo.shape[1:]
    imports = np.zeros(shape)
    exports = np.zeros(shape)
    np.add.at(imports, (stage_idx, importer_idx), reo)
    np.add.at(exports, (stage_idx, exporter_idx), reo)
    return imports, exports


@dataclass
class BalanceArrays:
    """Stage x country (x draws) arrays of one year's balance, all in t REO-eq.

    ``feed``: consumption passed to the next stage (max(consumption, 0)); ``shortfall``: what
    clipping added to a negative consumption (0 under ``keep``); ``statistic_gap``: production
    statistic minus upstream feed x yield, where a statistic replaced the derived production;
    ``unprocessed``: max(-statistic_gap, 0), the feed x yield that a statistic leaves unprocessed."""

    production: np.ndarray
    imports: np.ndarray
    exports: np.ndarray
    apparent: np.ndarray
    feed: np.ndarray
    losses: np.ndarray
    shortfall: np.ndarray
    statistic_gap: np.ndarray
    negative: np.ndarray  # P + I - E before any clipping, where it is negative (else 0)
    is_statistic: np.ndarray  # (n_stages, n_countries) bool
    unprocessed: np.ndarray  # max(derived - statistic, 0) where a statistic is used, else 0
    has_floor: np.ndarray | None = None  # (n_stages, n_countries) bool: production is max(derived, a floor)

    @property
    def net_exports(self) -> np.ndarray:
        return self.exports - self.imports


def yields_vector(yields: Mapping[str, Any] | Sequence[float] | np.ndarray) -> np.ndarray:
    """Yields as an array over STAGES (mining's entry, unused, is 1); a mapping uses stage names."""
    if isinstance(yields, Mapping):
        missing = [s for s in STAGES[1:] if s not in yields]
        if missing:
            raise ReeflowError(
                f"config mfa.yields: missing stage(s) {missing}; give a yield in (0, 1] for each"
            )
        return np.array([1.0] + [float(yields[s]) for s in STAGES[1:]])
    return np.asarray(yields, dtype=float)


def balance_arrays(
    mining_production: np.ndarray,
    imports: np.ndarray,
    exports: np.ndarray,
    yields: np.ndarray,
    clip: bool = True,
    production_stats: np.ndarray | None = None,
    production_floors: np.ndarray | None = None,
) -> BalanceArrays:
    """Production, consumption, losses and clipping per stage (see the module docstring).

    ``mining_production``: (n_countries[, n_draws]); ``imports``/``exports``: (n_stages,
    n_countries[, n_draws]); ``yields``: (n_stages[, n_draws]) with yields[s] the REO-eq out per
    REO-eq in from stage s-1 to s; ``production_stats``: (n_stages, n_countries), NaN where no
    statistic exists (only mining by default); ``production_floors``: the same for lower bounds
    (quotas: China's smelting-and-separation quota caps the processing of domestic ore, while
    imported ore is processed beside it), production there is max(derived, floor) and a floor above
    the feed is listed like a statistic above it. Stages are processed in order because each one's
    production comes from the one before."""
    imports = np.asarray(imports, dtype=float)
    exports = np.asarray(exports, dtype=float)
    yields = np.asarray(yields, dtype=float)
    n_stages = imports.shape[0]
    shape = imports.shape
    production = np.zeros(shape)
    losses = np.zeros(shape)
    apparent = np.zeros(shape)
    feed = np.zeros(shape)
    shortfall = np.zeros(shape)
    statistic_gap = np.zeros(shape)
    unprocessed = np.zeros(shape)
    negative = np.zeros(shape)
    stats = (
        np.full(shape[:2], np.nan)
        if production_stats is None
        else np.asarray(production_stats, dtype=float).copy()
    )
    floors = (
        np.full(shape[:2], np.nan)
        if production_floors is None
        else np.asarray(production_floors, dtype=float).copy()
    )
    is_statistic = np.isfinite(stats)
    is_statistic[0] = True
    has_floor = np.isfinite(floors) & ~is_statistic
    mining = _expand(np.asarray(mining_production, dtype=float), shape[1:])
    for s in range(n_stages):
        if s == 0:
            production[0] = mining
        else:
            derived = feed[s - 1] * yields[s]
            losses[s] = feed[s - 1] - derived
            stat = _expand(stats[s], shape[1:])
            use_stat = _expand(is_statistic[s], shape[1:])
            floor = _expand(np.where(has_floor[s], floors[s], 0.0), shape[1:])
            floored = np.maximum(derived, floor)
            production[s] = np.where(use_stat, stat, floored)
            statistic_gap[s] = np.where(use_stat, stat - derived, floored - derived)
            unprocessed[s] = np.maximum(-statistic_gap[s], 0.0)
        raw = production[s] + imports[s] - exports[s]
        negative[s] = np.minimum(raw, 0.0)
        feed[s] = np.maximum(raw, 0.0)
        if clip:
            apparent[s] = feed[s]
            shortfall[s] = feed[s] - raw
        else:
            apparent[s] = raw
    return BalanceArrays(
        production, imports, exports, apparent, feed, losses, shortfall, statistic_gap, negative, is_statistic,
        unprocessed, has_floor,
    )


def _expand(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A per-country vector broadcast over trailing draw axes."""
    values = np.asarray(values)
    return np.broadcast_to(values.reshape(values.shape + (1,) * (len(shape) - values.ndim)), shape)


def unexplained_residuals(balance: BalanceArrays, yields: np.ndarray) -> np.ndarray:
    """Largest absolute error of the balance equations per stage and country.

    Each equation holds by construction, so anything beyond rounding means bad input (NaN, inf)
    or a bug, and must stop the run rather than flow into results."""
    b = balance
    yields = np.asarray(yields, dtype=float)
    supply_side = b.production + b.imports - b.exports + b.shortfall - b.apparent
    feed_side = b.feed - np.maximum(b.production + b.imports - b.exports, 0.0)
    transition = np.zeros_like(b.production)
    loss_side = np.zeros_like(b.production)
    excess = np.maximum(b.statistic_gap, 0.0)
    # unprocessed feed is the part of the gap below 0, never negative, and only where a statistic is used
    unprocessed_side = np.abs(b.unprocessed - np.maximum(-b.statistic_gap, 0.0)) + np.maximum(-b.unprocessed, 0.0)
    for s in range(1, b.production.shape[0]):
        transition[s] = b.production[s] + b.losses[s] + b.unprocessed[s] - excess[s] - b.feed[s - 1]
        loss_side[s] = b.losses[s] - b.feed[s - 1] * (1.0 - yields[s])
    errors = np.stack([supply_side, feed_side, transition, loss_side, unprocessed_side])
    errors = np.where(np.isfinite(errors), np.abs(errors), np.inf)
    worst = errors.max(axis=0)
    return worst.reshape(worst.shape[:2] + (-1,)).max(axis=2) if worst.ndim > 2 else worst


def check_balance(
    balance: BalanceArrays, yields: np.ndarray, tolerance: float, countries: Sequence[str], year: int
) -> None:
    """Raise a ReeflowError naming year, country and stage of any unexplained residual."""
    worst = unexplained_residuals(balance, yields)
    bad = np.argwhere(worst > tolerance)
    if bad.size:
        where = ", ".join(f"{countries[c]} {STAGES[s]} ({worst[s, c]:.3g} t)" for s, c in bad[:10])
        raise ReeflowError(
            f"mass balance {year}: unexplained residual above mfa.balance_tolerance={tolerance} t "
            f"at {where}; "
            "check the trade and production inputs for NaN or infinite quantities"
        )


# ----------------------------------------------------------------------------------------------
# Tables for one year
# ----------------------------------------------------------------------------------------------
def _tonnes(rows: pd.DataFrame, source: str, year: int, whose: str) -> pd.Series:
    """value_t_reo as numbers, or a ReeflowError naming the countries whose value is missing or < 0."""
    values = pd.to_numeric(rows["value_t_reo"], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        raise ReeflowError(
            f"{source}: column value_t_reo must be a number >= 0 for {year}, {whose} "
            f"{sorted(rows.loc[bad, 'country'].astype(str))}; fix or drop those rows"
        )
    return values


def mining_production_for_year(
    production: pd.DataFrame, year: int, source: str = "production table"
) -> pd.Series:
    """Mine production (t REO) per country in ``year``; World rows are left out."""
    _require_columns(production, PRODUCTION_COLUMNS, source, "rerun the clean_production rule")
    rows = production[(production["year"] == year) & (production["stage"].astype(str) == "mining")]
    rows = rows[~rows["country"].astype(str).isin(NON_COUNTRIES)]
    values = _tonnes(rows, source, year, "countries")
    if rows.empty:
        raise ReeflowError(
            f"{source}: no mine production for {year} (a year no USGS edition covers); add an MCS edition "
            f"covering {year} to config usgs (or fill it with production.gap_fill), or lower years.end, "
            "then rerun the clean_production rule"
        )
    return values.groupby(rows["country"].astype(str)).sum()


# Flags of stage statistics that bound production from below rather than measure it.
FLOOR_FLAGS: frozenset[str] = frozenset({"quota"})


def stage_statistics_for_year(
    production: pd.DataFrame, year: int, source: str = "production table", floors: bool = False
) -> pd.Series:
    """Production statistics (t REO-eq) of the stages after mining in ``year``, indexed by (stage,
    country): the stage rows of the production table (docs/data-model.md). With ``floors`` the
    lower bounds (rows flagged as in FLOOR_FLAGS, e.g. quotas), else the measured statistics."""
    _require_columns(production, PRODUCTION_COLUMNS, source, "rerun the clean_production rule")
    stage = production["stage"].astype(str)
    rows = production[(production["year"] == year) & (stage != "mining")]
    if "flag" in rows.columns:
        is_floor = rows["flag"].astype(str).isin(FLOOR_FLAGS)
        rows = rows[is_floor] if floors else rows[~is_floor]
    elif floors:
        rows = rows.iloc[:0]
    rows = rows[~rows["country"].astype(str).isin(NON_COUNTRIES)]
    unknown = sorted(set(rows["stage"].astype(str)) - set(STAGES))
    if unknown:
        raise ReeflowError(f"{source}: unknown stage(s) {unknown} in {year}; use one of {list(STAGES)}")
    values = _tonnes(rows, source, year, "stage statistics of")
    keys = pd.MultiIndex.from_arrays([rows["stage"].astype(str), rows["country"].astype(str)])
    series = pd.Series(values.to_numpy(dtype=float), index=keys)
    if series.index.duplicated().any():
        dup = sorted(set(series.index[series.index.duplicated()]))
        raise ReeflowError(f"{source}: several statistics for {year} {dup}; keep one per stage and country")
    return series


def production_stats_matrix(stats: pd.Series, countries: Sequence[str]) -> np.ndarray:
    """(n_stages, n_countries) statistics for balance_arrays, NaN where none exists."""
    out = np.full((len(STAGES), len(countries)), np.nan)
    position = {c: i for i, c in enumerate(countries)}
    for (stage, country), value in stats.items():
        if country in position:
            out[STAGES.index(stage), position[country]] = value
    return out


def country_index(flows: pd.DataFrame, mining: pd.Series, stage_stats: pd.Series | None = None) -> list[str]:
    """Every country that trades, mines or has a stage statistic in the year, sorted: the index of
    all arrays."""
    # unique() first: a Python set over a whole pyarrow-backed column is slow at global scale
    codes = {*flows["exporter"].astype(str).unique(), *flows["importer"].astype(str).unique(), *mining.index}
    if stage_stats is not None and len(stage_stats):
        codes |= set(stage_stats.index.get_level_values(1))
    return sorted(codes)


@dataclass
class YearMFA:
    """Everything one year's balance produces, arrays and tables."""

    year: int
    countries: list[str]
    flows: pd.DataFrame
    balance: BalanceArrays
    balance_table: pd.DataFrame
    residuals: pd.DataFrame


def year_balance(
    trade: pd.DataFrame,
    production: pd.DataFrame,
    commodities: pd.DataFrame,
    year: int,
    settings: MfaSettings,
    trade_source: str = "trade table",
    production_source: str = "production table",
    reported: set[tuple[str, str]] | None = None,
    partial: dict[tuple[str, str, str], float] | None = None,
) -> YearMFA:
    """The balance of one year at central coefficients, checked, with its residuals table.

    ``reported``: the (country, "imports"/"exports") flows that countries declared themselves this
    year (reeflow.mfa.coverage.reported_flows); None when unknown, which marks nothing as unreported.
    ``partial``: the flows whose partner declarations fall short of the reporter's World total
    (reeflow.mfa.coverage.partial_flows). ``settings``: MfaSettings.from_mapping(config mfa)."""
    rule = settings.negative_consumption
    if rule not in NEGATIVE_CONSUMPTION_RULES:
        raise ReeflowError(
            f"config mfa.negative_consumption: {rule!r}; use one of {NEGATIVE_CONSUMPTION_RULES}"
        )
    yields = yields_vector(settings.yields)
    rows = central_units(trade, commodities, trade_source)
    flows = flows_table(rows, year)
    mining = mining_production_for_year(production, year, production_source)
    stage_stats = stage_statistics_for_year(production, year, production_source)
    stage_floors = stage_statistics_for_year(production, year, production_source, floors=True)
    countries = country_index(flows, mining, pd.concat([stage_stats, stage_floors]))
    position = {c: i for i, c in enumerate(countries)}
    stage_pos = {s: i for i, s in enumerate(STAGES)}
    imports, exports = trade_totals(
        flows["reo_t"].to_numpy(),
        flows["stage"].map(stage_pos).to_numpy(dtype=int),
        flows["exporter"].map(position).to_numpy(dtype=int),
        flows["importer"].map(position).to_numpy(dtype=int),
        len(countries),
    )
    mining_vec = mining.reindex(countries, fill_value=0.0).to_numpy(dtype=float)
    balance = balance_arrays(
        mining_vec,
        imports,
        exports,
        yields,
        clip=rule == "clip_and_report",
        production_stats=production_stats_matrix(stage_stats, countries),
        production_floors=production_stats_matrix(stage_floors, countries),
    )
    check_balance(balance, yields, settings.balance_tolerance, countries, year)
    has_statistic = pd.Series(countries).isin(mining.index).to_numpy()
    shares = trade_two_sided_shares(rows, countries)
    if reported is None:
        reported = {(c, flow) for c in countries for flow in ("imports", "exports")}
    table = balance_coverage(
        balance_table(balance, countries, year, has_statistic), shares, countries, reported, partial
    )
    residuals = residual_table(balance, countries, year, rule)
    return YearMFA(year, countries, flows, balance, table, residuals)


def trade_two_sided_shares(rows: pd.DataFrame, countries: Sequence[str]) -> np.ndarray:
    """(n_stages, n_countries) share of each balance row's traded REO-eq declared by both sides
    (``rows`` from central_units)."""
    position = {c: i for i, c in enumerate(countries)}
    one_sided = rows["one_sided"].astype(bool).to_numpy() if "one_sided" in rows.columns else np.zeros(len(rows), bool)
    return two_sided_shares(
        rows["reo_t"].to_numpy(dtype=float), rows["stage_idx"].to_numpy(dtype=int),
        rows["exporter"].map(position).to_numpy(dtype=int), rows["importer"].map(position).to_numpy(dtype=int),
        ~one_sided, len(countries),
    )  # fmt: skip


def balance_table(
    balance: BalanceArrays, countries: Sequence[str], year: int, mining_listed: np.ndarray | None = None
) -> pd.DataFrame:
    """Long table, one row per country and stage (BALANCE_COLUMNS but the coverage columns, which
    reeflow.mfa.coverage.balance_coverage adds)."""
    n_stages, n_countries = balance.production.shape[:2]
    basis = np.where(balance.is_statistic, "statistic", "derived").astype(object)
    if balance.has_floor is not None:
        basis[balance.has_floor] = "floor"
    if mining_listed is not None:
        basis[0] = np.where(mining_listed, "statistic", "none")
    table = pd.DataFrame(
        {
            "year": year,
            "country": np.tile(np.asarray(countries, dtype=object), n_stages),
            "stage": np.repeat(np.asarray(STAGES[:n_stages], dtype=object), n_countries),
            "production_t": balance.production.ravel(),
            "imports_t": balance.imports.ravel(),
            "exports_t": balance.exports.ravel(),
            "apparent_consumption_t": balance.apparent.ravel(),
            "net_exports_t": balance.net_exports.ravel(),
            "losses_t": balance.losses.ravel(),
            "unprocessed_t": balance.unprocessed.ravel(),
            "production_basis": basis.ravel(),
        }
    )
    for col in ("country", "stage", "production_basis"):
        table[col] = table[col].astype(str)
    return table


def residual_table(balance: BalanceArrays, countries: Sequence[str], year: int, rule: str) -> pd.DataFrame:
    """Every explained residual: negative consumption (clipped or kept) and statistic-vs-yield gaps."""
    frames = []
    treatment = "clipped to 0" if rule == "clip_and_report" else "kept negative"
    s_idx, c_idx = np.nonzero(balance.negative < 0)
    frames.append(
        pd.DataFrame(
            {
                "country": [countries[c] for c in c_idx],
                "stage": [STAGES[s] for s in s_idx],
                "kind": "negative_consumption",
                "residual_t": -balance.negative[s_idx, c_idx],
                "reason": f"exports exceed production + imports ({treatment})",
            }
        )
    )
    reasons = {
        True: "production statistic below upstream consumption x yield (statistic used; the rest is "
        "unprocessed_t: feed to stocks or unrecorded exports)",
        False: "production statistic above upstream consumption x yield (statistic used; inputs missing "
        "from the data: unrecorded imports, stock draw-down or unlisted upstream production)",
    }
    s_idx, c_idx = np.nonzero(np.abs(balance.statistic_gap) > 0)
    gap = balance.statistic_gap[s_idx, c_idx]
    frames.append(
        pd.DataFrame(
            {
                "country": [countries[c] for c in c_idx],
                "stage": [STAGES[s] for s in s_idx],
                "kind": "statistic_vs_yield",
                "residual_t": gap,
                "reason": [reasons[bool(g < 0)] for g in gap],
            }
        )
    )
    return finish_residuals(frames, year)


def finish_residuals(frames: Sequence[pd.DataFrame], year: int) -> pd.DataFrame:
    """Concatenate residual pieces into RESIDUAL_COLUMNS with stable string columns."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_residuals()
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "year", year)
    for col in ("country", "stage", "kind", "reason"):
        out[col] = out[col].astype(str)
    out["residual_t"] = out["residual_t"].astype(float)
    return out[RESIDUAL_COLUMNS]


def empty_residuals() -> pd.DataFrame:
    return empty_table(RESIDUAL_DTYPES)


# ----------------------------------------------------------------------------------------------
# Reading inputs
# ----------------------------------------------------------------------------------------------
def load_year_inputs(
    trade_path: str | os.PathLike[str],
    production_path: str | os.PathLike[str],
    commodities_path: str | os.PathLike[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three inputs of a year's MFA: trade, production and the included commodity rows."""
    return (
        read_table(trade_path, what="cleaned trade"),
        read_table(production_path, what="cleaned production"),
        load_commodities(commodities_path),
    )


# ----------------------------------------------------------------------------------------------
# Rules: one year, then every year collected
# ----------------------------------------------------------------------------------------------
YEAR_OUTPUTS: tuple[str, ...] = MFA_YEAR_TABLES  # one home: reeflow.schemas


def trace_year(result: YearMFA) -> tuple[list[Any], np.ndarray]:
    """Origin tracing of one year's balance; returns the stage traces and the origin countries."""
    from reeflow.mfa.tracing import stage_flow_matrices, trace_origins

    matrices = stage_flow_matrices(result.flows, result.countries)
    production = np.maximum(result.balance.production, 0.0)
    origin_countries = np.nonzero(production[0] > 0)[0]
    return trace_origins(matrices, production, origin_countries), origin_countries


def year_tables(result: YearMFA, commodities: pd.DataFrame, settings: MfaSettings) -> dict[str, pd.DataFrame]:
    """Every per-year table from a checked balance: the files under resources/mfa/{year}/."""
    from reeflow.mfa.indicators import headline_row, headline_table, year_indicators
    from reeflow.mfa.tracing import disruption_table, origin_table, tracing_residuals

    year, countries = result.year, result.countries
    traces, origin_countries = trace_year(result)
    residuals = pd.concat([result.residuals, tracing_residuals(traces, countries, year)], ignore_index=True)
    residuals = finish_residuals([residuals.drop(columns="year")], year)
    links = list(settings.disruption_links)
    return {
        "balance": result.balance_table,
        "flows": result.flows,
        "origins": origin_table(traces, countries, origin_countries, year),
        "indicators": year_indicators(
            result.balance_table, result.flows, year, top=settings.top_partners
        ),
        "residuals": residuals,
        "disruption": disruption_table(
            traces, countries, year, links, list(settings.disruption_exporters)
        ),
        # the year's headline row, worked out here so that collecting the years only concatenates
        "headline": headline_table([headline_row(result.balance_table, result.flows, year)]),
    }


def run_mfa_year(
    trade_path: str,
    production_path: str,
    commodities_path: str,
    year: int,
    settings: MfaSettings,
    outputs: Mapping[str, str],
    coverage_path: str | None = None,
    world_check_path: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mfa_year rule: one year's trade, production and coefficients -> resources/mfa/{year}/.
    Returns the trade and commodity tables it read, for the job's other per-year table (the US
    trade under every mirror rule), so that the job reads them once.

    ``coverage_path``: the year's reporter coverage (clean_trade), which says whose own
    declarations exist; without it no flow is marked unreported. ``world_check_path``: the year's
    World-vs-partners table, which says whose declarations cover only some partners."""
    from reeflow.io import write_parquet_atomic
    from reeflow.mfa.coverage import partial_flows, reported_flows

    trade, production, commodities = load_year_inputs(trade_path, production_path, commodities_path)
    reported = None if coverage_path is None else reported_flows(read_table(coverage_path, what="coverage"))
    partial = None
    if world_check_path is not None:
        partial = partial_flows(read_table(world_check_path, what="World-vs-partners check"), commodities)
    result = year_balance(
        trade, production, commodities, year, settings, str(trade_path), str(production_path), reported, partial
    )
    tables = year_tables(result, commodities, settings)
    b = result.balance_table
    mining = b.loc[b["stage"] == "mining", "production_t"].sum()
    log.info(
        "%d: %d countries, %d flows, mine production %.0f t REO, %d residual rows",
        year,
        len(result.countries),
        len(result.flows),
        mining,
        len(tables["residuals"]),
    )
    for name in YEAR_OUTPUTS:
        write_parquet_atomic(tables[name], outputs[name])
    return trade, commodities


def _concat(paths: Sequence[str], what: str) -> pd.DataFrame:
    frames = [read_table(p, what=what) for p in paths]
    frames = [f for f in frames if not f.empty] or frames[:1]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def collect_mfa(inputs: Mapping[str, Sequence[str]], outputs: Mapping[str, str]) -> None:
    """The collect_mfa rule: per-year files -> the stable public tables under results/."""
    from reeflow.io import concat_parquet_to_csv, write_csv_atomic, write_parquet_atomic
    from reeflow.mfa.indicators import headline_table

    balance = _concat(inputs["balance"], "per-year balance")
    write_parquet_atomic(balance[BALANCE_COLUMNS], outputs["balance"])
    write_parquet_atomic(_concat(inputs["flows"], "per-year flows")[FLOW_COLUMNS], outputs["flows"])
    write_parquet_atomic(_concat(inputs["origins"], "per-year origins"), outputs["origins"])
    concat_parquet_to_csv(inputs["indicators"], outputs["indicators"], "per-year indicators")
    concat_parquet_to_csv(inputs["disruption"], outputs["disruption"], "per-year disruption")
    concat_parquet_to_csv(inputs["residuals"], outputs["mass_balance"], "per-year residuals")
    headline = headline_table(_concat(inputs["headline"], "per-year headline").to_dict("records"))
    write_csv_atomic(headline, outputs["headline"])
    log.info("collected %d years", len(headline))
