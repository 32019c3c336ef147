"""Uncertainty and sensitivity of the headline indicators: Monte Carlo, one-at-a-time and Sobol.

Why the design looks like this:

* The headline indicators (as reeflow.mfa.indicators defines them) are built from sums of REO-eq
  flows, and REO-eq = units x content x share (reeflow.mfa.balance) is linear in the units. So a year's
  trade table (up to ~1 M rows at global scale) is first collapsed, once, into the units of a few
  *flow groups* (US exports, China imports, US->China, ...) per HS code, per mirror rule and with
  imputed quantities included or excluded. Each draw then needs only small array products, plus
  reeflow.mfa.balance's balance for the US and China (production and yields enter the
  interdependence through their supply): 1,000 draws x 23 years take well under a minute, with
  no Python loop per draw and no [rows x draws] array.
* Draws are generated once (``samples.parquet``) and shared by every year, so that years are
  comparable draw by draw (a "high content" draw is high in every year).
* Every parameter is drawn through its inverse CDF from a uniform number. Zero-width ranges
  (low = central = high) then give the central value exactly, and the same inverse CDFs map
  Sobol's uniform design onto the parameter groups.

Parameters and their ranges (documented in README.md, "Sensitivity"):

* content of each HS code: triangular(content_low, content_central, content_high), one per code;
* inclusion share of partly-REE codes: triangular(share_low, share_central, share_high), one per code;
* process yields: triangular(y (1 - r), y, min(1, y (1 + r))) around the configured yield y,
  r = ``sensitivity.yield_range``;
* mirror rule: uniform over ``sensitivity.mirror_rules``; ``trade.mirror_rule`` is the central case;
* imputed quantities: included with probability ``sensitivity.p_include_imputed`` when
  ``sensitivity.vary_imputation``, else fixed at ``trade.impute_missing_weights``. Imputation is a
  property of a declaration, not of a flow: the trade table flags each side (``imputed_importer``,
  ``imputed_exporter``), and a draw that excludes imputed quantities drops the imputed declarations
  and applies its own mirror rule to what remains, as reconciliation without imputation would. So
  ``importer_first``/``exporter_first`` fall back to the other side where the preferred side was
  imputed, and ``max``/``weighted_mean`` take the non-imputed side (the weighted_mean weights are
  re-estimated on the non-imputed declarations). Only where a row has no declarations at all (a BACI
  flow) does the row's own ``imputed`` flag decide. A side whose sum mixes imputed and reported
  records counts as imputed as a whole (the trade table does not keep the split).

For Sobol indices and one-at-a-time runs the codes are grouped (content of each stage, share of all
partly-REE codes, all yields) and moved together (comonotone), so that the index of a group answers
"how much does this kind of assumption matter".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reeflow.clean.reconcile import RULES, choose_quantity, importer_weights
from reeflow.commodities import STAGES, load_commodities
from reeflow.io import ReeflowError, read_table, write_csv_atomic, write_parquet_atomic
from reeflow.mfa.balance import (
    BalanceArrays,
    balance_arrays,
    mining_production_for_year,
    production_stats_matrix,
    stage_statistics_for_year,
    supply_trade,
)
from reeflow.mfa.indicators import HEADLINE_INDICATORS, headline_indicators
from reeflow.schemas import SENSITIVITY_TRADE_COLUMNS as TRADE_COLUMNS
from reeflow.settings import SensitivitySpace

log = logging.getLogger(__name__)

MIRROR_RULES: tuple[str, ...] = RULES  # one home: reeflow.clean.reconcile
YIELD_STAGES: tuple[str, ...] = STAGES[1:]  # every stage after mining has a yield
HEADLINE: tuple[str, ...] = HEADLINE_INDICATORS
SOBOL_INDICATORS: tuple[str, ...] = ("us_net_exports_t", "china_share_of_us_exports")
US, CHINA = "USA", "CHN"
# Flow groups the headline indicators are built from: (name, exporter or None, importer or None).
FLOW_GROUPS: tuple[tuple[str, str | None, str | None], ...] = (
    ("us_exports", US, None),
    ("us_imports", None, US),
    ("china_exports", CHINA, None),
    ("china_imports", None, CHINA),
    ("us_to_china", US, CHINA),
    ("china_to_us", CHINA, US),
)


# ----------------------------------------------------------------------------------------------
# Parameter space and draws
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSpace:
    """Every uncertain input with its range; arrays are aligned with ``codes`` / ``YIELD_STAGES``."""

    codes: tuple[str, ...]
    stages: tuple[str, ...]  # stage of each code
    unit_basis: tuple[str, ...]
    item_mass_t: np.ndarray
    content: np.ndarray  # [codes x 3]: low, central, high
    share: np.ndarray  # [codes x 3]
    yields: np.ndarray  # [YIELD_STAGES x 3]
    mirror_rules: tuple[str, ...]  # rules drawn from
    central_rule: str
    vary_imputation: bool
    p_include_imputed: float
    central_include_imputed: bool

    @property
    def partial_codes(self) -> np.ndarray:
        """Codes only partly REE, i.e. whose share is uncertain: these form the `share_partial` group."""
        return self.share[:, 0] < self.share[:, 2]


@dataclass(frozen=True)
class Draws:
    """Parameter values per draw: coefficient arrays are [codes x draws] or [YIELD_STAGES x draws]."""

    content: np.ndarray
    share: np.ndarray
    yields: np.ndarray
    rule: np.ndarray  # index into MIRROR_RULES, one per draw
    include_imputed: np.ndarray  # bool, one per draw

    @property
    def n(self) -> int:
        return int(self.rule.shape[0])


def parameter_space(
    commodities: pd.DataFrame,
    yields: dict[str, float],
    central_rule: str,
    central_include_imputed: bool = True,
    yield_range: float = 0.10,
    mirror_rules: Sequence[str] = MIRROR_RULES,
    vary_imputation: bool = True,
    p_include_imputed: float = 0.5,
) -> ParameterSpace:
    """Build the parameter ranges from the commodity table and the sensitivity config; check them."""
    rules = tuple(mirror_rules)
    unknown = [r for r in (*rules, central_rule) if r not in MIRROR_RULES]
    if unknown or not rules:
        raise ReeflowError(
            f"config sensitivity.mirror_rules: unknown or empty {unknown or rules}; "
            f"use a non-empty subset of {list(MIRROR_RULES)}"
        )
    if central_rule not in rules:
        raise ReeflowError(
            f"config sensitivity.mirror_rules {list(rules)} lacks the central rule trade.mirror_rule "
            f"'{central_rule}'; add it to the list"
        )
    if not 0 <= yield_range < 1:
        raise ReeflowError(f"config sensitivity.yield_range {yield_range} must be in [0, 1)")
    if not 0 <= p_include_imputed <= 1:
        raise ReeflowError(f"config sensitivity.p_include_imputed {p_include_imputed} must be in [0, 1]")
    missing = [s for s in YIELD_STAGES if s not in yields]
    if missing:
        raise ReeflowError(f"config mfa.yields lacks stage(s) {missing}; give a yield for each of {YIELD_STAGES}")
    y = np.array([float(yields[s]) for s in YIELD_STAGES])
    yield_ranges = np.column_stack([y * (1 - yield_range), y, np.minimum(1.0, y * (1 + yield_range))])
    levels = ("low", "central", "high")
    return ParameterSpace(
        codes=tuple(commodities["hs_code"].astype(str)),
        stages=tuple(commodities["stage"].astype(str)),
        unit_basis=tuple(commodities["unit_basis"].astype(str)),
        item_mass_t=commodities["item_mass_t"].to_numpy(dtype=float),
        content=commodities[[f"content_{lv}" for lv in levels]].to_numpy(dtype=float),
        share=commodities[[f"share_{lv}" for lv in levels]].to_numpy(dtype=float),
        yields=yield_ranges,
        mirror_rules=rules,
        central_rule=central_rule,
        vary_imputation=vary_imputation,
        p_include_imputed=p_include_imputed,
        central_include_imputed=central_include_imputed,
    )


def triangular_ppf(u: np.ndarray, low: np.ndarray, mode: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse CDF of the triangular distribution, broadcast; a zero-width range returns its value exactly.

    Written out (rather than rng.triangular) because numpy rejects low == high and because the same
    function maps Sobol's uniform design onto the coefficients."""
    u, low, mode, high = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (u, low, mode, high)))
    width = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        f_mode = np.where(width > 0, (mode - low) / np.where(width > 0, width, 1.0), 0.0)
        left = low + np.sqrt(u * width * (mode - low))
        right = high - np.sqrt((1 - u) * width * (high - mode))
    out = np.where(u < f_mode, left, right)
    out = np.where(width > 0, out, low)
    return np.clip(out, low, high)


def _rule_indices(names: Sequence[str]) -> np.ndarray:
    return np.array([MIRROR_RULES.index(r) for r in names], dtype=np.int64)


def draws_from_uniforms(
    space: ParameterSpace,
    u_content: np.ndarray,
    u_share: np.ndarray,
    u_yields: np.ndarray,
    u_rule: np.ndarray,
    u_imputation: np.ndarray,
) -> Draws:
    """Map uniform numbers (broadcastable to [codes x n], [YIELD_STAGES x n], [n]) onto parameter values."""
    n = np.asarray(u_rule).shape[0]
    content = triangular_ppf(u_content, *(space.content[:, [i]] for i in range(3)))
    share = triangular_ppf(u_share, *(space.share[:, [i]] for i in range(3)))
    yields = triangular_ppf(u_yields, *(space.yields[:, [i]] for i in range(3)))
    allowed = _rule_indices(space.mirror_rules)
    pick = np.minimum((np.asarray(u_rule) * len(allowed)).astype(np.int64), len(allowed) - 1)
    if space.vary_imputation:
        include = np.asarray(u_imputation) < space.p_include_imputed
    else:
        include = np.full(n, space.central_include_imputed)
    shape = (len(space.codes), n)
    return Draws(
        content=np.broadcast_to(content, shape).copy(),
        share=np.broadcast_to(share, shape).copy(),
        yields=np.broadcast_to(yields, (len(YIELD_STAGES), n)).copy(),
        rule=allowed[pick],
        include_imputed=include.astype(bool),
    )


def sample_draws(space: ParameterSpace, n: int, seed: int) -> Draws:
    """Independent Monte Carlo draws: each code's content and share, each yield, a rule, imputation."""
    if n < 1:
        raise ReeflowError(f"config sensitivity.draws must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    n_codes, n_yields = len(space.codes), len(YIELD_STAGES)
    return draws_from_uniforms(
        space,
        u_content=rng.random((n_codes, n)),
        u_share=rng.random((n_codes, n)),
        u_yields=rng.random((n_yields, n)),
        u_rule=rng.random(n),
        u_imputation=rng.random(n),
    )


def central_draws(space: ParameterSpace, n: int = 1) -> Draws:
    """The central case (every coefficient central, the configured rule and imputation), n times."""
    return Draws(
        content=np.repeat(space.content[:, [1]], n, axis=1),
        share=np.repeat(space.share[:, [1]], n, axis=1),
        yields=np.repeat(space.yields[:, [1]], n, axis=1),
        rule=np.full(n, MIRROR_RULES.index(space.central_rule), dtype=np.int64),
        include_imputed=np.full(n, space.central_include_imputed),
    )


def draws_to_frame(space: ParameterSpace, draws: Draws) -> pd.DataFrame:
    """One row per draw, one column per parameter (the samples.parquet layout)."""
    cols: dict[str, np.ndarray] = {"draw": np.arange(draws.n, dtype=np.int64)}
    for i, code in enumerate(space.codes):
        cols[f"content_{code}"] = draws.content[i]
    for i, code in enumerate(space.codes):
        cols[f"share_{code}"] = draws.share[i]
    for i, stage in enumerate(YIELD_STAGES):
        cols[f"yield_{stage}"] = draws.yields[i]
    cols["mirror_rule"] = np.array([MIRROR_RULES[r] for r in draws.rule], dtype=object)
    cols["include_imputed"] = draws.include_imputed
    frame = pd.DataFrame(cols)
    frame["mirror_rule"] = frame["mirror_rule"].astype("string")
    return frame


def draws_from_frame(frame: pd.DataFrame, space: ParameterSpace, source: str = "samples") -> Draws:
    """Read draws back, checking that they match the commodity table (a stale samples file fails here)."""
    needed = (
        [f"content_{c}" for c in space.codes]
        + [f"share_{c}" for c in space.codes]
        + [f"yield_{s}" for s in YIELD_STAGES]
        + ["draw", "mirror_rule", "include_imputed"]
    )
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ReeflowError(
            f"{source}: column(s) {missing[:5]} missing; the commodity table changed since the samples were "
            "drawn: delete resources/sensitivity/samples.parquet and rerun"
        )
    frame = frame.sort_values("draw")
    rules = frame["mirror_rule"].astype(str)
    bad = sorted(set(rules) - set(MIRROR_RULES))
    if bad:
        raise ReeflowError(f"{source}: column mirror_rule has unknown rule(s) {bad}; use one of {MIRROR_RULES}")
    return Draws(
        content=frame[[f"content_{c}" for c in space.codes]].to_numpy(dtype=float).T,
        share=frame[[f"share_{c}" for c in space.codes]].to_numpy(dtype=float).T,
        yields=frame[[f"yield_{s}" for s in YIELD_STAGES]].to_numpy(dtype=float).T,
        rule=_rule_indices(list(rules)),
        include_imputed=frame["include_imputed"].to_numpy(dtype=bool),
    )


# ----------------------------------------------------------------------------------------------
# Parameter groups (one-at-a-time and Sobol)
# ----------------------------------------------------------------------------------------------


def parameter_groups(space: ParameterSpace) -> list[str]:
    """Groups that actually vary: content of each stage, share of partial codes, yields, rule, imputation."""
    groups = []
    stages = np.array(space.stages)
    for stage in STAGES:
        in_stage = stages == stage
        if (in_stage & (space.content[:, 0] < space.content[:, 2])).any():
            groups.append(f"content_{stage}")
    if space.partial_codes.any():
        groups.append("share_partial")
    if (space.yields[:, 0] < space.yields[:, 2]).any():
        groups.append("yields")
    if len(space.mirror_rules) > 1:
        groups.append("mirror_rule")
    if space.vary_imputation and 0 < space.p_include_imputed < 1:
        groups.append("imputation")
    return groups


def draws_for_groups(space: ParameterSpace, groups: Sequence[str], x: np.ndarray) -> Draws:
    """Map a design x [n x groups] of uniforms onto draws; NaN (or a group not listed) means central.

    Within a group every member moves together (same uniform), so the group behaves as one factor.
    Central values are copied, not recomputed through the inverse CDF, so they are exact."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[0]
    base = central_draws(space, n)
    content, share, yields = base.content.copy(), base.share.copy(), base.yields.copy()
    rule, include = base.rule.copy(), base.include_imputed.copy()
    stages = np.array(space.stages)
    for j, group in enumerate(groups):
        col = x[:, j]
        moved = ~np.isnan(col)
        if not moved.any():
            continue
        u = np.where(moved, col, 0.0)
        if group.startswith("content_"):
            members = stages == group.removeprefix("content_")
            new = triangular_ppf(u[None, :], *(space.content[members][:, [i]] for i in range(3)))
            content[members] = np.where(moved, new, content[members])
        elif group == "share_partial":
            members = space.partial_codes
            new = triangular_ppf(u[None, :], *(space.share[members][:, [i]] for i in range(3)))
            share[members] = np.where(moved, new, share[members])
        elif group == "yields":
            new = triangular_ppf(u[None, :], *(space.yields[:, [i]] for i in range(3)))
            yields = np.where(moved, new, yields)
        elif group == "mirror_rule":
            allowed = _rule_indices(space.mirror_rules)
            picked = allowed[np.minimum((u * len(allowed)).astype(np.int64), len(allowed) - 1)]
            rule = np.where(moved, picked, rule)
        elif group == "imputation":
            include = np.where(moved, u >= 0.5, include)
        else:
            raise ReeflowError(f"unknown sensitivity parameter group '{group}'")
    return Draws(content, share, yields, rule, include)


# ----------------------------------------------------------------------------------------------
# The year model: trade collapsed to flow groups, then the balance and indicators per draw
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearFlows:
    """A year collapsed for the headline: trade units [FLOW_GROUPS x codes x MIRROR_RULES x
    (imputed quantities excluded, included)], mine production of the focus countries (US, China), t REO, and their
    production statistics of the later stages [STAGES x FOCUS] (NaN: derived), as reeflow.mfa.balance uses."""

    year: int
    codes: tuple[str, ...]
    units: np.ndarray
    mining: np.ndarray  # [FOCUS]
    n_rows: int
    production_stats: np.ndarray | None = None  # [STAGES x FOCUS], NaN where no statistic
    production_floors: np.ndarray | None = None  # [STAGES x FOCUS], NaN where no lower bound (quota)


FOCUS: tuple[str, ...] = (US, CHINA)


def check_trade(trade: pd.DataFrame, source: str) -> None:
    missing = [c for c in TRADE_COLUMNS if c not in trade.columns]
    if missing:
        raise ReeflowError(
            f"{source}: column(s) {missing} missing; it must follow docs/data-model.md "
            "(resources/clean/trade/{year}.parquet): rerun the clean step"
        )
    for col in ("qty_t", "qty_t_importer", "qty_t_exporter", "items_importer", "items_exporter"):
        if (pd.to_numeric(trade[col], errors="coerce") < 0).any():
            raise ReeflowError(f"{source}: column {col} has negative quantities; fix the clean step")


def _units_by_rule(
    rows: pd.DataFrame, space: ParameterSpace, code_idx: np.ndarray, w_imp: np.ndarray, w_reported: np.ndarray
) -> np.ndarray:
    """Units of each supply row under each mirror rule, with imputed quantities excluded (index 0)
    and included (index 1): [rows x MIRROR_RULES x 2], as reeflow.mfa.balance counts them.

    Units are tonnes, or items for item-counted codes (the count where declared, else tonnes /
    item mass): what the content coefficient applies to. Each rule picks the declarations with
    reeflow.clean.reconcile.choose_quantity (BACI-style weights for weighted_mean: ``w_imp`` from all
    declarations, ``w_reported`` from the non-imputed ones); where a row has no declaration (a BACI
    flow has a single reconciled quantity) the table's chosen quantity stands in. Excluding imputed
    quantities drops each side's tonnes where that side is flagged imputed (``imputed_importer``,
    ``imputed_exporter``) before the rule chooses, so a rule falls back to the other side; a row
    without declarations loses its chosen tonnes where the row is flagged ``imputed``. Counts of
    items are never imputed and stay."""
    q_imp, q_exp = (rows[c].to_numpy(dtype=float) for c in ("qty_t_importer", "qty_t_exporter"))
    n_imp, n_exp = (rows[c].to_numpy(dtype=float) for c in ("items_importer", "items_exporter"))
    flag_imp, flag_exp, flag_row = (
        rows[c].fillna(False).to_numpy(dtype=bool) for c in ("imputed_importer", "imputed_exporter", "imputed")
    )
    chosen_t = rows["qty_t"].to_numpy(dtype=float)
    chosen_items = rows["qty_items"].to_numpy(dtype=float)
    undeclared = np.isnan(q_imp) & np.isnan(q_exp)
    by_item = np.array(space.unit_basis)[code_idx] == "item"
    item_mass = space.item_mass_t[code_idx]

    def units(rule: str, sel: slice | np.ndarray, qi: np.ndarray, qe: np.ndarray, fallback: np.ndarray,
              w: np.ndarray) -> np.ndarray:  # fmt: skip
        qty_t = np.where(undeclared[sel], fallback, choose_quantity(qi, qe, rule, w[sel]))
        items = choose_quantity(n_imp[sel], n_exp[sel], rule, w[sel])
        items = np.where(np.isnan(items), chosen_items[sel], items)
        with np.errstate(invalid="ignore", divide="ignore"):
            counted = np.where(np.isfinite(items), items, qty_t / item_mass[sel])
        return np.where(by_item[sel], counted, qty_t)

    # Without imputed quantities only the rows holding one change, except under weighted_mean when
    # the weights learnt from the non-imputed declarations differ.
    changed = np.flatnonzero(flag_imp | flag_exp | (undeclared & flag_row))
    masked = (
        np.where(flag_imp, np.nan, q_imp), np.where(flag_exp, np.nan, q_exp), np.where(flag_row, np.nan, chosen_t)
    )
    out = np.empty((len(rows), len(MIRROR_RULES), 2))
    for r, rule in enumerate(MIRROR_RULES):
        out[:, r, 1] = units(rule, slice(None), q_imp, q_exp, chosen_t, w_imp)
        if rule == "weighted_mean" and not np.array_equal(w_imp, w_reported):
            out[:, r, 0] = units(rule, slice(None), *masked, w_reported)
        else:
            out[:, r, 0] = out[:, r, 1]
            out[changed, r, 0] = units(rule, changed, *(a[changed] for a in masked), w_reported)
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


def aggregate_year(
    trade: pd.DataFrame, space: ParameterSpace, year: int, production: pd.DataFrame | None = None, source: str = "trade"
) -> YearFlows:
    """Collapse a year's trade into the flow groups, per code, rule and with imputed quantities
    excluded or included (``_units_by_rule``).

    The rows kept are those reeflow.mfa.balance balances (no re-exports, self-trade or World rows); the
    weighted_mean weights are estimated, as in reeflow.clean.reconcile, on every declared flow of the
    year (and again on its non-imputed declarations, for draws that exclude imputed quantities)."""
    check_trade(trade, source)
    trade = trade.reset_index(drop=True)
    qi = np.where(trade["reexport"].fillna(False).astype(bool), np.nan, trade["qty_t_importer"].to_numpy(float))
    w_all = w_reported = np.full(len(trade), 0.5)
    if "weighted_mean" in space.mirror_rules:
        # integer country codes: the weights depend only on country identity, and maps over ints are
        # several times faster than over strings at a million flows
        ids, _ = pd.factorize(pd.concat([trade["exporter"], trade["importer"]]).astype(str))
        qe = trade["qty_t_exporter"].to_numpy(float)
        w_all = importer_weights(ids[: len(trade)], ids[len(trade) :], qi, qe)
        flag_i, flag_e = (trade[c].fillna(False).to_numpy(bool) for c in ("imputed_importer", "imputed_exporter"))
        w_reported = w_all
        if (flag_i & ~np.isnan(qi)).any() or flag_e.any():  # else the same flows teach the same weights
            w_reported = importer_weights(
                ids[: len(trade)], ids[len(trade) :], np.where(flag_i, np.nan, qi), np.where(flag_e, np.nan, qe)
            )
    supply = supply_trade(trade.assign(_w=w_all, _w_reported=w_reported), source)
    code_idx = pd.Index(space.codes).get_indexer(supply["hs6"].astype(str))
    if (code_idx < 0).any():
        log.info("%s: %d rows with codes outside the commodity table left out", source, int((code_idx < 0).sum()))
        supply, code_idx = supply[code_idx >= 0].reset_index(drop=True), code_idx[code_idx >= 0]
    units = _units_by_rule(supply, space, code_idx, supply["_w"].to_numpy(float), supply["_w_reported"].to_numpy(float))
    exporter, importer = supply["exporter"].astype(str).to_numpy(), supply["importer"].astype(str).to_numpy()
    n_codes = len(space.codes)
    out = np.zeros((len(FLOW_GROUPS), n_codes, len(MIRROR_RULES), 2))
    for g, (_, exp, imp) in enumerate(FLOW_GROUPS):
        in_group = np.ones(len(supply), dtype=bool)
        if exp is not None:
            in_group &= exporter == exp
        if imp is not None:
            in_group &= importer == imp
        for r in range(len(MIRROR_RULES)):
            for k in range(2):
                out[g, :, r, k] = np.bincount(code_idx[in_group], weights=units[in_group, r, k], minlength=n_codes)
    mining = np.zeros(len(FOCUS))
    stats = floors = None
    if production is not None:
        by_country = mining_production_for_year(production, int(year))
        mining = by_country.reindex(list(FOCUS), fill_value=0.0).to_numpy(dtype=float)
        stats = production_stats_matrix(stage_statistics_for_year(production, int(year)), list(FOCUS))
        floors = production_stats_matrix(stage_statistics_for_year(production, int(year), floors=True), list(FOCUS))
    return YearFlows(year=int(year), codes=space.codes, units=out, mining=mining, n_rows=int(len(supply)),
                     production_stats=stats, production_floors=floors)


def stage_totals(flows: YearFlows, space: ParameterSpace, draws: Draws) -> np.ndarray:
    """REO-eq tonnes of each flow group and stage per draw [FLOW_GROUPS x STAGES x draws].

    Loops run over rules and codes, never over draws. Accumulating code by code (not einsum/BLAS
    or a pairwise sum) keeps the summation order independent of the number of draws, so a
    zero-width Monte Carlo reproduces the central case bit for bit."""
    stage_idx = np.array([STAGES.index(s) for s in space.stages])
    coef = draws.content * draws.share
    include = draws.include_imputed.astype(bool)
    out = np.zeros((flows.units.shape[0], len(STAGES), draws.n))
    for r in np.unique(draws.rule):
        sel = draws.rule == r
        part = np.zeros((flows.units.shape[0], len(STAGES), int(sel.sum())))
        for c in range(len(space.codes)):
            units = np.where(include[sel][None, :], flows.units[:, c, r, 1][:, None], flows.units[:, c, r, 0][:, None])
            part[:, stage_idx[c], :] += units * coef[c, sel][None, :]
        out[:, :, sel] = part
    return out


def focus_balance(totals: np.ndarray, flows: YearFlows, yields: np.ndarray) -> BalanceArrays:
    """The balance of the US and China per draw (reeflow.mfa.balance.balance_arrays), from the flow
    groups' stage totals [FLOW_GROUPS x STAGES x draws]: arrays [STAGES x FOCUS x draws].

    Production: mine production, then the stage statistic where one exists (or the floor), else
    upstream consumption x yield: that is where yields and production enter the headline.
    ``yields``: [YIELD_STAGES x draws]."""
    g = {name: totals[i] for i, (name, _, _) in enumerate(FLOW_GROUPS)}  # each [STAGES x draws]
    imports = np.stack([g["us_imports"], g["china_imports"]], axis=1)  # [STAGES x FOCUS x draws]
    exports = np.stack([g["us_exports"], g["china_exports"]], axis=1)
    stage_yields = np.vstack([np.ones((1, yields.shape[1])), yields])[:, None, :]
    return balance_arrays(
        flows.mining, imports, exports, stage_yields,
        production_stats=flows.production_stats, production_floors=flows.production_floors,
    )  # fmt: skip


def evaluate(flows: YearFlows, space: ParameterSpace, draws: Draws) -> dict[str, np.ndarray]:
    """Headline indicators of one year for every draw (vectorised over draws), by
    reeflow.mfa.indicators.headline_indicators, the function the central case uses too."""
    totals = stage_totals(flows, space, draws)
    balance = focus_balance(totals, flows, draws.yields)
    groups = [name for name, _, _ in FLOW_GROUPS]
    return headline_indicators(
        balance.production, balance.imports, balance.exports,
        us_to_china=totals[groups.index("us_to_china")], china_to_us=totals[groups.index("china_to_us")],
    )  # fmt: skip


def evaluate_in_chunks(
    flows: YearFlows, space: ParameterSpace, draws: Draws, chunk: int = 4096
) -> dict[str, np.ndarray]:
    """As evaluate, bounding memory for Sobol designs of tens of thousands of runs."""
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, draws.n, chunk):
        sl = slice(start, start + chunk)
        sub = Draws(
            draws.content[:, sl], draws.share[:, sl], draws.yields[:, sl], draws.rule[sl], draws.include_imputed[sl]
        )
        parts.append(evaluate(flows, space, sub))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def indicators_long(values: dict[str, np.ndarray], year: int) -> pd.DataFrame:
    """(draw, year, indicator, value) rows: the draws.parquet layout."""
    frames = [
        pd.DataFrame({"draw": np.arange(len(v), dtype=np.int64), "year": int(year), "indicator": name, "value": v})
        for name, v in values.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    out["indicator"] = out["indicator"].astype("string")
    return out


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------


def summarise_draws(draws: pd.DataFrame) -> pd.DataFrame:
    """5th, 50th and 95th percentiles per year and indicator (draws with an undefined value left out)."""
    grouped = draws.dropna(subset=["value"]).groupby(["year", "indicator"], sort=True)["value"]
    out = grouped.quantile([0.05, 0.5, 0.95]).unstack()
    out.columns = ["p05", "p50", "p95"]
    out["n_valid"] = grouped.size()
    return out.reset_index()


def net_exporter_probability(draws: pd.DataFrame) -> pd.DataFrame:
    """Share of draws in which the US is a net exporter, per year."""
    flags = draws[draws["indicator"] == "us_net_exporter"]
    out = flags.groupby("year", sort=True)["value"].mean().rename("probability").reset_index()
    return out


def one_at_a_time(
    flows_by_year: dict[int, YearFlows], space: ParameterSpace, indicators: Sequence[str] = HEADLINE
) -> pd.DataFrame:
    """Each parameter group at its low and high setting, the others central (tornado-chart input).

    Continuous groups use their low and high ends. The mirror rule, a category, reports the rules
    giving the lowest and highest value; imputation reports 'excluded' (low) and 'included' (high)."""
    groups = parameter_groups(space)
    rows = []
    for year, flows in sorted(flows_by_year.items()):
        central = evaluate(flows, space, central_draws(space))
        for j, group in enumerate(groups):
            if group == "mirror_rule":
                settings = list(space.mirror_rules)
                x = (np.arange(len(settings)) + 0.5) / len(settings)
            elif group == "imputation":
                settings = ["excluded", "included"]
                x = np.array([0.25, 0.75])
            else:
                settings = ["low", "high"]
                x = np.array([0.0, 1.0])
            design = np.full((len(x), len(groups)), np.nan)
            design[:, j] = x
            values = evaluate(flows, space, draws_for_groups(space, groups, design))
            for name in indicators:
                v = values[name]
                lo, hi = _extreme_settings(v) if group == "mirror_rule" else (0, 1)
                rows.append(
                    {
                        "indicator": name,
                        "year": int(year),
                        "parameter": group,
                        "low_value": float(v[lo]),
                        "central_value": float(central[name][0]),
                        "high_value": float(v[hi]),
                        "low_setting": settings[lo],
                        "high_setting": settings[hi],
                    }
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "indicator",
            "year",
            "parameter",
            "low_value",
            "central_value",
            "high_value",
            "low_setting",
            "high_setting",
        ],
    )
    return out.astype({"indicator": "string", "parameter": "string", "low_setting": "string", "high_setting": "string"})


# ----------------------------------------------------------------------------------------------
# Sobol indices
# ----------------------------------------------------------------------------------------------

SOBOL_COLUMNS: tuple[str, ...] = ("indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf")


def _extreme_settings(values: np.ndarray) -> tuple[int, int]:
    """Positions of the lowest and highest defined value (first position if none is defined)."""
    if not np.isfinite(values).any():
        return 0, 0
    return int(np.nanargmin(values)), int(np.nanargmax(values))


def sobol_table(
    names: Sequence[str],
    model: Callable[[np.ndarray], dict[str, np.ndarray]],
    n_base: int,
    seed: int,
    num_resamples: int = 100,
) -> pd.DataFrame:
    """First-order and total Sobol indices of each model output over uniform [0, 1] factors.

    Saltelli/Sobol' design from SALib (n_base (k + 2) runs; n_base a power of 2), analysed per
    output. An output that is undefined in some run (e.g. a share with no exports) or constant gets
    NaN indices rather than failing the workflow: the table then says that it cannot be apportioned."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if not names:
        return pd.DataFrame(columns=list(SOBOL_COLUMNS))
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    x = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    outputs = model(x)
    rows = []
    for indicator, y in outputs.items():
        y = np.asarray(y, dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            log.warning("Sobol: %s is undefined in some runs or constant; indices set to NaN", indicator)
            res = {k: np.full(len(names), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            res = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=num_resamples, seed=seed)
        for j, name in enumerate(names):
            rows.append(
                {
                    "indicator": indicator,
                    "parameter": name,
                    **{k: float(res[k][j]) for k in ("S1", "S1_conf", "ST", "ST_conf")},
                }
            )
    out = pd.DataFrame(rows, columns=list(SOBOL_COLUMNS))
    return out.astype({"indicator": "string", "parameter": "string"})


def sobol_by_year(
    flows_by_year: dict[int, YearFlows],
    space: ParameterSpace,
    n_base: int,
    seed: int,
    indicators: Sequence[str] = SOBOL_INDICATORS,
    num_resamples: int = 100,
) -> pd.DataFrame:
    """Sobol indices of the parameter groups for the chosen indicators, one block per year."""
    groups = parameter_groups(space)
    tables = []
    for year, flows in sorted(flows_by_year.items()):

        def model(x: np.ndarray, flows: YearFlows = flows) -> dict[str, np.ndarray]:
            values = evaluate_in_chunks(flows, space, draws_for_groups(space, groups, x))
            return {name: values[name] for name in indicators}

        table = sobol_table(groups, model, n_base, seed, num_resamples)
        table.insert(0, "year", int(year))
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["year", *SOBOL_COLUMNS])
    return pd.concat(tables, ignore_index=True)


# ----------------------------------------------------------------------------------------------
# File-level steps (called by the thin rule scripts)
# ----------------------------------------------------------------------------------------------


def space_from_config(commodities_path: str | os.PathLike[str], settings: SensitivitySpace) -> ParameterSpace:
    """The parameter space from the commodity table and SensitivitySpace.from_mapping(params.space)
    (mfa.yields, the central trade choices and the sensitivity section)."""
    return parameter_space(
        load_commodities(commodities_path),
        dict(settings.yields),
        central_rule=settings.central_rule,
        central_include_imputed=settings.central_include_imputed,
        yield_range=settings.sensitivity.yield_range,
        mirror_rules=list(settings.sensitivity.mirror_rules),
        vary_imputation=settings.sensitivity.vary_imputation,
        p_include_imputed=settings.sensitivity.p_include_imputed,
    )


def read_trade(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The trade columns the Monte Carlo needs (only those are read: global years are large)."""
    return read_table(path, TRADE_COLUMNS, "cleaned trade (rerun the clean_trade rule)", only=True)


def read_production(path: str | os.PathLike[str]) -> pd.DataFrame:
    return read_table(path, (), "production table (rerun the clean_production rule)")


def load_year_flows(
    paths_by_year: dict[int, str], space: ParameterSpace, production_path: str | os.PathLike[str]
) -> dict[int, YearFlows]:
    production = read_production(production_path)
    return {int(y): aggregate_year(read_trade(p), space, int(y), production, str(p)) for y, p in paths_by_year.items()}


def write_samples(space: ParameterSpace, n: int, seed: int, out_path: str | os.PathLike[str]) -> pd.DataFrame:
    frame = draws_to_frame(space, sample_draws(space, n, seed))
    write_parquet_atomic(frame, out_path)
    log.info("%d draws of %d parameters written to %s", n, frame.shape[1] - 1, out_path)
    return frame


def run_year(
    trade_path: str | os.PathLike[str],
    production_path: str | os.PathLike[str],
    samples_path: str | os.PathLike[str],
    space: ParameterSpace,
    year: int,
    out_path: str | os.PathLike[str],
) -> pd.DataFrame:
    """Headline indicators of one year for every shared draw -> (draw, year, indicator, value)."""
    draws = draws_from_frame(pd.read_parquet(samples_path), space, str(samples_path))
    production = read_production(production_path)
    flows = aggregate_year(read_trade(trade_path), space, year, production, str(trade_path))
    values = evaluate_in_chunks(flows, space, draws)
    table = indicators_long(values, year)
    write_parquet_atomic(table, out_path)
    log.info(
        "%d: %d draws over %d flows; P(US net exporter) = %.3f",
        year,
        draws.n,
        flows.n_rows,
        float(np.mean(values["us_net_exporter"])),
    )
    return table


def collect(
    year_paths: Sequence[str | os.PathLike[str]],
    draws_out: str | os.PathLike[str],
    uncertainty_out: str | os.PathLike[str],
    probability_out: str | os.PathLike[str],
) -> None:
    """Stack the per-year draws and write the percentile and probability tables."""
    draws = pd.concat([pd.read_parquet(p) for p in year_paths], ignore_index=True)
    draws = draws.sort_values(["year", "indicator", "draw"], ignore_index=True)
    write_parquet_atomic(draws, draws_out)
    write_csv_atomic(summarise_draws(draws), uncertainty_out)
    write_csv_atomic(net_exporter_probability(draws), probability_out)


def run_oat(
    trade_paths: dict[int, str],
    production_path: str | os.PathLike[str],
    space: ParameterSpace,
    out_path: str | os.PathLike[str],
) -> pd.DataFrame:
    table = one_at_a_time(load_year_flows(trade_paths, space, production_path), space)
    write_csv_atomic(table, out_path)
    return table


def run_sobol(
    trade_paths: dict[int, str],
    production_path: str | os.PathLike[str],
    space: ParameterSpace,
    n_base: int,
    seed: int,
    out_path: str | os.PathLike[str],
    num_resamples: int = 100,
) -> pd.DataFrame:
    flows = load_year_flows(trade_paths, space, production_path)
    table = sobol_by_year(flows, space, n_base, seed, num_resamples=num_resamples)
    write_csv_atomic(table, out_path)
    return table
