"""Mirror reconciliation: one flow per year, exporter, importer and code from two declarations.

Every bilateral flow may be declared twice: by the importer (flow M, partner = origin, CIF) and by
the exporter (flow X, partner = destination, FOB). The two rarely agree, and for rare earths they
can differ a hundredfold (the USA books Mountain Pass concentrate as HS 2846 exports to China;
China books it as ores under a national line of 2530.90). So the choice is a rule
(``trade.mirror_rule``) that the sensitivity analysis can switch, both declarations stay beside
the chosen one, and large disagreements are listed rather than resolved silently.

Rules, applied to each measure (tonnes, items, USD) independently:
- ``importer_first`` / ``exporter_first``: that side's declaration where it exists, else the other;
- ``max``: the larger declaration (an upper bound on what crossed the border);
- ``weighted_mean``: a reliability-weighted mean in the spirit of CEPII BACI (Gaulier & Zignago
  2010). For each two-sided flow f from exporter e to importer i, the squared log discrepancy
  d_f = (ln q_imp - ln q_exp)^2 measures disagreement. Each country's unreliability as importer,
  U_imp(c), and as exporter, U_exp(c), is the mean d_f over its flows in that role, shrunk towards
  the mean over all flows d_bar with a prior weight of ``PRIOR_FLOWS`` flows:
      U(c) = (sum_f d_f + k * d_bar) / (n_c + k).
  The importer's declaration then gets the inverse-variance weight
      w_imp = U_exp(e) / (U_imp(i) + U_exp(e))   (0.5 where both are 0),
  and q = w_imp * q_imp + (1 - w_imp) * q_exp. A reporter whose declarations disagree with its
  partners' mirrors across many flows thus counts less, whichever partner is at fault this time.
One-sided flows take the side that exists under every rule.

RX/RM declarations become rows with ``reexport`` True, as do self-trade declarations (China's
imports "from China" are re-imports); they are reconciled the same way but apart from the supply
flows, which the MFA uses. Flows among China, Hong Kong and Macao are flagged ``hk_roundtrip``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from reeflow.hs import stage_of
from reeflow.io import ReeflowError
from reeflow.schemas import DISCREPANCY_COLUMNS, TRADE_COLUMNS, empty_table, typed

RULES: tuple[str, ...] = ("importer_first", "exporter_first", "max", "weighted_mean")
HK_GROUP: frozenset[str] = frozenset({"CHN", "HKG", "MAC"})
PRIOR_FLOWS = 2.0
FLOW_KEY: tuple[str, ...] = ("year", "exporter", "importer", "hs6", "reexport")
_BASIS = {"importer_first": "importer", "exporter_first": "exporter", "max": "max", "weighted_mean": "weighted_mean"}

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def _check_rule(rule: object) -> None:
    bad = sorted({str(r) for r in np.ravel(np.asarray(rule, dtype=object))} - set(RULES))
    if bad:
        raise ReeflowError(f"trade.mirror_rule: unknown rule(s) {bad}; use one of {RULES}")


def choose_quantity(
    q_imp: ArrayLike, q_exp: ArrayLike, rule: str | ArrayLike, w_imp: ArrayLike | None = None
) -> FloatArray:
    """The chosen declaration under ``rule``; NaN marks a missing declaration.

    Vectorised and broadcasting: ``q_imp``/``q_exp`` may be (flows,) or (draws, flows) arrays and
    ``rule`` one name or an array of names (e.g. one per draw, shape (draws, 1)), so a Monte Carlo
    can switch the rule per draw. ``w_imp`` is the importer's weight for ``weighted_mean``
    (default 0.5)."""
    _check_rule(rule)
    qi = np.asarray(q_imp, dtype=float)
    qe = np.asarray(q_exp, dtype=float)
    w = np.asarray(0.5 if w_imp is None else w_imp, dtype=float)
    has_i, has_e = ~np.isnan(qi), ~np.isnan(qe)
    candidates = {
        "importer_first": lambda: np.where(has_i, qi, qe),
        "exporter_first": lambda: np.where(has_e, qe, qi),
        "max": lambda: np.fmax(qi, qe),
        "weighted_mean": lambda: np.where(has_i & has_e, w * qi + (1.0 - w) * qe, np.fmax(qi, qe)),
    }
    if isinstance(rule, str):
        return np.asarray(candidates[rule](), dtype=float)
    rules = np.asarray(rule, dtype=object)
    shape = np.broadcast_shapes(qi.shape, qe.shape, rules.shape)
    out = np.full(shape, np.nan)
    for name, make in candidates.items():
        chosen = np.broadcast_to(rules == name, shape)
        if chosen.any():
            out = np.where(chosen, make(), out)
    return out


def choice_basis(q_imp: ArrayLike, q_exp: ArrayLike, rule: str) -> npt.NDArray[np.str_]:
    """Which declaration ``choose_quantity`` used: importer, exporter, max or weighted_mean.

    A one-sided flow names the side that exists whatever the rule; with no quantity on either
    side the rule's preferred side is named."""
    _check_rule(rule)
    has_i = ~np.isnan(np.asarray(q_imp, dtype=float))
    has_e = ~np.isnan(np.asarray(q_exp, dtype=float))
    preferred = "exporter" if rule == "exporter_first" else "importer"
    both = _BASIS[rule] if rule in ("max", "weighted_mean") else preferred
    return np.select([has_i & has_e, has_i, has_e], [both, "importer", "exporter"], default=preferred)


def importer_weights(
    exporters: Sequence[str] | pd.Series,
    importers: Sequence[str] | pd.Series,
    q_imp: ArrayLike,
    q_exp: ArrayLike,
    prior_flows: float = PRIOR_FLOWS,
) -> FloatArray:
    """BACI-style reliability weight of each flow's importer declaration (module docstring).

    Estimated from every flow passed in that has two positive declarations; pass only the flows
    whose declarations should teach reliability (the supply flows of one year)."""
    exp = pd.Series(np.asarray(exporters, dtype=object))
    imp = pd.Series(np.asarray(importers, dtype=object))
    qi = np.asarray(q_imp, dtype=float)
    qe = np.asarray(q_exp, dtype=float)
    both = (qi > 0) & (qe > 0)
    if not both.any():
        return np.full(len(exp), 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = pd.Series(np.where(both, (np.log(qi) - np.log(qe)) ** 2, np.nan))
    d_bar = float(d.mean())
    u_imp = _shrunk_mean(d, imp, d_bar, prior_flows)
    u_exp = _shrunk_mean(d, exp, d_bar, prior_flows)
    ui = imp.map(u_imp).fillna(d_bar).to_numpy(dtype=float)
    ue = exp.map(u_exp).fillna(d_bar).to_numpy(dtype=float)
    total = ui + ue
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, ue / total, 0.5)


def _shrunk_mean(d: pd.Series, country: pd.Series, d_bar: float, prior: float) -> pd.Series:
    grouped = d.groupby(country.to_numpy())
    return (grouped.sum() + prior * d_bar) / (grouped.count() + prior)


# --------------------------------------------------------------------------------------------
# reported -> trade
# --------------------------------------------------------------------------------------------


def declarations(reported: pd.DataFrame) -> pd.DataFrame:
    """Bilateral declarations as (exporter, importer, side) sums; World and non-countries left out."""
    rows = reported[
        ~reported["is_world"] & reported["partner_is_country"] & reported["reporter_is_country"]
        & (reported["hs6"] != "")
    ]  # fmt: skip
    is_import = rows["flow"].isin(["M", "RM"])
    frame = pd.DataFrame({
        "year": rows["year"],
        "exporter": rows["partner"].where(is_import, rows["reporter"]),
        "importer": rows["reporter"].where(is_import, rows["partner"]),
        "hs6": rows["hs6"],
        "side": np.where(is_import, "importer", "exporter"),
        "reexport": rows["flow"].isin(["RM", "RX"]) | (rows["reporter"] == rows["partner"]),
        "qty_t": rows["qty_t"], "items": rows["qty_items"], "value_usd": rows["value_usd"],
        "imputed": rows["qty_imputed"],
    })  # fmt: skip
    grouped = frame.groupby([*FLOW_KEY, "side"], sort=True)
    sums = grouped[["qty_t", "items", "value_usd"]].sum(min_count=1)  # all-missing stays missing, not 0
    return sums.join(grouped["imputed"].any()).reset_index()


def mirror_pairs(decl: pd.DataFrame) -> pd.DataFrame:
    """One row per flow with the importer's and the exporter's declarations side by side."""
    wide = decl.pivot(index=list(FLOW_KEY), columns="side", values=["qty_t", "items", "value_usd", "imputed"])
    wide.columns = [f"{measure}_{side}" for measure, side in wide.columns]
    wide = wide.reset_index()
    for measure in ("qty_t", "items", "value_usd", "imputed"):
        for side in ("importer", "exporter"):
            if f"{measure}_{side}" not in wide.columns:
                wide[f"{measure}_{side}"] = np.nan
    declared = (
        decl.groupby([*FLOW_KEY, "side"]).size().unstack("side", fill_value=0)
        .reindex(columns=["importer", "exporter"], fill_value=0)
    )  # fmt: skip
    declared.columns = [f"declared_{side}" for side in declared.columns]
    wide = wide.merge((declared > 0).reset_index(), on=list(FLOW_KEY), how="left")
    for side in ("importer", "exporter"):
        wide[f"imputed_{side}"] = wide[f"imputed_{side}"].astype("boolean").fillna(False).astype(bool)
    return wide


def reconcile(
    reported: pd.DataFrame, table: pd.DataFrame, rule: str = "importer_first", discrepancy_factor: float = 2.0
) -> pd.DataFrame:
    """The ``trade`` table (docs/data-model.md) of one year's ``reported`` table."""
    _check_rule(rule)
    if discrepancy_factor <= 1:
        raise ReeflowError(f"trade.discrepancy_factor must exceed 1, got {discrepancy_factor}")
    decl = declarations(reported)
    if decl.empty:
        return empty_table(TRADE_COLUMNS)
    flows = mirror_pairs(decl)
    qi, qe = flows["qty_t_importer"].to_numpy(float), flows["qty_t_exporter"].to_numpy(float)
    supply = ~flows["reexport"].to_numpy(bool)
    w = np.full(len(flows), 0.5)
    if rule == "weighted_mean":
        w = importer_weights(flows["exporter"], flows["importer"], np.where(supply, qi, np.nan), qe)
    flows["qty_t"] = choose_quantity(qi, qe, rule, w)
    flows["qty_items"] = choose_quantity(flows["items_importer"], flows["items_exporter"], rule, w)
    flows["value_usd"] = choose_quantity(flows["value_usd_importer"], flows["value_usd_exporter"], rule, w)
    flows["basis"] = choice_basis(qi, qe, rule)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.fmax(qi, qe) / np.fmin(qi, qe)
    flows["discrepancy_ratio"] = np.where((qi > 0) & (qe > 0), ratio, np.nan)
    flows["disputed"] = flows["discrepancy_ratio"] > discrepancy_factor
    flows["one_sided"] = ~(flows["declared_importer"] & flows["declared_exporter"])
    flows["imputed"] = used_imputed(flows)
    flows["hk_roundtrip"] = (
        flows["exporter"].isin(HK_GROUP) & flows["importer"].isin(HK_GROUP) & (flows["exporter"] != flows["importer"])
    )
    flows["stage"] = stage_of(flows["hs6"], table)
    return typed(flows, TRADE_COLUMNS)


def used_imputed(flows: pd.DataFrame) -> pd.Series:
    """Whether a quantity the rule used was imputed from unit values."""
    imp, exp = flows["imputed_importer"], flows["imputed_exporter"]
    basis = flows["basis"]
    return (
        ((basis == "importer") & imp)
        | ((basis == "exporter") & exp)
        | (basis.isin(["max", "weighted_mean"]) & (imp | exp))
    )


def discrepancies(trade: pd.DataFrame, large_flow_t: float = 100.0) -> pd.DataFrame:
    """Disputed flows, and one-sided (or one-quantity) flows above ``large_flow_t``, with a reason."""
    if trade.empty:
        return empty_table(DISCREPANCY_COLUMNS)
    one_quantity = trade["qty_t_importer"].isna() != trade["qty_t_exporter"].isna()
    large = trade["qty_t"] > large_flow_t
    reason = pd.Series("", index=trade.index, dtype=object)
    reason[one_quantity & ~trade["one_sided"] & large] = "one_quantity_missing_large"
    reason[trade["one_sided"] & large] = "one_sided_large"
    reason[trade["disputed"]] = "disputed"
    listed = trade.assign(reason=reason, ratio=trade["discrepancy_ratio"])[reason != ""]
    return typed(listed, DISCREPANCY_COLUMNS)
