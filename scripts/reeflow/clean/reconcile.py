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

One shipment, two codes. The two customs services may book the same goods under different codes:
the USA declares Mountain Pass concentrate as HS 2846 (compounds) exported to China, China the same
shipments as 2530.90.20 (ores of rare-earth metals). Matched by code they are two one-sided flows,
a huge US export of compounds nobody received and Chinese ore imports nobody sent. A cross-code
correspondence (config ``trade.cross_code``: exporter's code, importer's code, optional countries
and years, a citation) pairs them (``apply_cross_code``): of the exporter's declaration under its
code, the part the importer does not declare under that same code (or a national line of it) is
moved to the importer's code, where it meets the importer's declaration. The moved part takes the
importer's code, the more specific description of what crossed the border (an ore line puts the
flow in the mining stage, with the ore's content). Both declarations stay in the trade row; every
match is listed (``cross_code_matches``). Mirror rules and the Monte Carlo then treat the pair as
any two-sided flow.

National lines against HS codes. Where one side declares national tariff lines (China's 2846.90.19)
and the other only their HS parent (the USA's 2846), the parent declaration is split over the
national lines in proportion to them (``align_national_lines``), so that both sides meet code by
code.

RX/RM declarations become rows with ``reexport`` True, as do self-trade declarations (China's
imports "from China" are re-imports); they are reconciled the same way but apart from the supply
flows, which the MFA uses. Flows among China, Hong Kong and Macao are flagged ``hk_roundtrip``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reeflow.clean.hs import stage_of
from reeflow.io import ReeflowError
from reeflow.schemas import CROSS_CODE_COLUMNS, DISCREPANCY_COLUMNS, TRADE_COLUMNS, empty_table, typed

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------------
# One shipment, two codes
# --------------------------------------------------------------------------------------------
CROSS_CODE_KEYS: tuple[str, ...] = ("id", "exporter_code", "importer_code", "default_code", "citation")


def check_cross_code(rules: Sequence[Mapping[str, Any]], table_codes: Sequence[str]) -> list[dict[str, Any]]:
    """The correspondences of config ``trade.cross_code``, checked, with defaults filled in."""
    checked = []
    codes = set(map(str, table_codes))
    for i, rule in enumerate(rules or []):
        where = f"config trade.cross_code[{i}]"
        missing = [k for k in ("exporter_code", "importer_code", "citation") if not str(rule.get(k, "")).strip()]
        if missing:
            raise ReeflowError(f"{where}: missing {missing}; give the exporter's and the importer's code and a source")
        out = {
            "id": str(rule.get("id") or f"cross_code_{i}"),
            "exporter_code": str(rule["exporter_code"]).strip(),
            "importer_code": str(rule["importer_code"]).strip(),
            "default_code": str(rule.get("default_code") or rule["importer_code"]).strip(),
            "exporters": [str(c) for c in rule.get("exporters") or []],
            "importers": [str(c) for c in rule.get("importers") or []],
            "first_year": int(rule.get("first_year") or 0),
            "last_year": int(rule.get("last_year") or 9999),
            "citation": str(rule["citation"]),
        }
        for key in ("exporter_code", "importer_code", "default_code"):
            if not out[key].isdigit() or not 4 <= len(out[key]) <= 10:
                raise ReeflowError(f"{where}: {key} {out[key]!r} is not a 4-10 digit code")
        if out["default_code"] not in codes:
            raise ReeflowError(f"{where}: default_code {out['default_code']} is not a commodity-table row; "
                               "add it to the commodity table or name a code that is")  # fmt: skip
        if not out["default_code"].startswith(out["importer_code"]):
            raise ReeflowError(f"{where}: default_code {out['default_code']} must start with importer_code "
                               f"{out['importer_code']}")  # fmt: skip
        if out["exporter_code"].startswith(out["importer_code"]) or out["importer_code"].startswith(
            out["exporter_code"]
        ):
            raise ReeflowError(f"{where}: the two codes {out['exporter_code']} and {out['importer_code']} are one "
                               "family; mirror pairing already compares them")  # fmt: skip
        checked.append(out)
    return checked


def _same_family(codes: pd.Series, code: str) -> pd.Series:
    """Codes that name ``code``, one of its national lines, or its heading (a prefix of ``code``:
    matched against the prefixes, not by a Python loop over every declaration)."""
    prefixes = [code[:length] for length in range(len(code) + 1)]
    return codes.str.startswith(code) | codes.isin(prefixes).astype(bool)


def apply_cross_code(
    decl: pd.DataFrame, rules: Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Declarations with cross-code shipments moved to the importer's code, and the list of matches.

    ``rules`` as from ``check_cross_code``. Per year, exporter and importer in a rule's scope, the
    exporter's declaration under a code of ``exporter_code`` minus the importer's declaration of the
    same code family is moved to the code the importer declared under ``importer_code``:
    ``default_code`` where the importer declared it, else its largest declaration of that family;
    ``default_code`` too where the importer declared nothing there (its data may be missing: the
    exporter's word then stands alone, as for any one-sided flow)."""
    if not rules or decl.empty:
        return decl.assign(cross_code=""), empty_table(CROSS_CODE_COLUMNS)
    decl = decl.assign(cross_code="").reset_index(drop=True)
    supply = ~decl["reexport"].astype(bool)
    moved_rows, matches, emptied = [], [], []
    for rule in rules:
        sel = supply & (decl["side"] == "exporter") & decl["hs6"].str.startswith(rule["exporter_code"])
        sel &= decl["year"].between(rule["first_year"], rule["last_year"])
        if rule["exporters"]:
            sel &= decl["exporter"].isin(rule["exporters"])
        if rule["importers"]:
            sel &= decl["importer"].isin(rule["importers"])
        for idx in decl.index[sel]:
            row = decl.loc[idx]
            q_exp = float(row["qty_t"]) if pd.notna(row["qty_t"]) else np.nan
            if not q_exp > 0:
                continue
            pair = supply & (decl["year"] == row["year"]) & (decl["exporter"] == row["exporter"])
            pair &= (decl["importer"] == row["importer"]) & (decl["side"] == "importer")
            same = pair & _same_family(decl["hs6"], str(row["hs6"]))
            q_same = float(decl.loc[same, "qty_t"].sum(min_count=1)) if same.any() else np.nan
            moved = q_exp - (q_same if np.isfinite(q_same) else 0.0)
            if moved <= 0:
                continue
            cross = pair & decl["hs6"].str.startswith(rule["importer_code"])
            if cross.any():
                declared = decl.loc[cross, "qty_t"].fillna(0.0)
                is_default = decl.loc[cross, "hs6"] == rule["default_code"]
                target_idx = declared[is_default].idxmax() if is_default.any() else declared.idxmax()
                target, q_cross = str(decl.at[target_idx, "hs6"]), float(decl.at[target_idx, "qty_t"])
            else:
                target, q_cross = rule["default_code"], np.nan
            fraction = moved / q_exp
            moved_rows.append(row.to_dict() | {
                "hs6": target, "qty_t": moved, "items": row["items"] * fraction,
                "value_usd": row["value_usd"] * fraction, "cross_code": str(row["hs6"]),
            })  # fmt: skip
            if fraction >= 1.0:
                emptied.append(idx)  # the whole declaration was the other code's goods
            for col in ("qty_t", "items", "value_usd"):
                decl.at[idx, col] = row[col] * (1.0 - fraction)
            matches.append({
                "year": int(row["year"]), "rule": rule["id"], "exporter": row["exporter"], "importer": row["importer"],
                "exporter_code": str(row["hs6"]), "importer_code": rule["importer_code"], "target": target,
                "qty_t_exporter_declared": q_exp, "qty_t_importer_same_code": q_same, "qty_t_moved": moved,
                "qty_t_importer_cross": q_cross, "citation": rule["citation"],
            })  # fmt: skip
    if not moved_rows:
        return decl, empty_table(CROSS_CODE_COLUMNS)
    out = _regroup(pd.concat([decl.drop(index=emptied), pd.DataFrame(moved_rows)], ignore_index=True))
    log.info("cross-code: %d shipment(s) moved to the importer's code", len(matches))
    return out, typed(pd.DataFrame(matches), CROSS_CODE_COLUMNS)


def align_national_lines(decl: pd.DataFrame) -> pd.DataFrame:
    """Split one side's HS declaration over the other side's national lines under it.

    Per flow (year, exporter, importer, reexport): where one side declares national lines of an
    HS parent and the other side declares the parent (or its heading) but none of those lines, the
    parent declaration is shared out in proportion to the national lines' tonnes (their values where
    all tonnes are missing or zero; equally where both are), so the two sides meet code by code.
    Lines without a table row of their own were mapped to the parent and share in it like the rest."""
    national = decl["hs6"].str.len() >= 7
    if not national.any():
        return decl
    flow = ["year", "exporter", "importer", "reexport"]
    lines = decl[national]
    line_flows = lines[[*flow, "side"]].drop_duplicates()
    line_flows["side"] = np.where(line_flows["side"] == "importer", "exporter", "importer")
    hs_rows = decl[~national].reset_index().merge(line_flows, on=[*flow, "side"], how="inner").set_index("index")
    keep = pd.Series(True, index=decl.index)
    added = []
    flow_rows = decl.reset_index().merge(line_flows[flow].drop_duplicates(), on=flow).set_index("index")
    for idx, parent in hs_rows.iterrows():
        code = str(parent["hs6"])
        same_flow = np.logical_and.reduce([flow_rows[c] == parent[c] for c in flow])
        family = same_flow & flow_rows["hs6"].str.startswith(code) & (flow_rows.index != idx)
        children = flow_rows[family & (flow_rows["side"] != parent["side"])]
        own_lines = flow_rows[family & (flow_rows["side"] == parent["side"]) & (flow_rows["hs6"].str.len() >= 7)]
        if not (children["hs6"].str.len() >= 7).any() or not own_lines.empty:
            continue  # nothing national to meet, or this side has its own lines: plain pairing
        weights = children["qty_t"].fillna(0.0).clip(lower=0.0)
        if not weights.sum() > 0:
            weights = children["value_usd"].fillna(0.0).clip(lower=0.0)
        if not weights.sum() > 0:
            weights = pd.Series(1.0, index=children.index)
        keep[idx] = False
        for code, frac in zip(children["hs6"], (weights / weights.sum()).to_numpy(), strict=True):
            added.append(parent.to_dict() | {
                "hs6": code, "qty_t": parent["qty_t"] * frac, "items": parent["items"] * frac,
                "value_usd": parent["value_usd"] * frac,
            })  # fmt: skip
    if not added:
        return decl
    log.info("national lines: %d HS declaration(s) split over the partner's national lines", int((~keep).sum()))
    return _regroup(pd.concat([decl[keep], pd.DataFrame(added)], ignore_index=True))


def _regroup(decl: pd.DataFrame) -> pd.DataFrame:
    """One row per declaration key again after rows were split or moved (sums; flags and codes kept)."""
    grouped = decl.groupby([*FLOW_KEY, "side"], sort=True)
    out = grouped[["qty_t", "items", "value_usd"]].sum(min_count=1).join(grouped[["imputed"]].any())
    if "cross_code" in decl.columns:
        out = out.join(grouped["cross_code"].max())
    return out.reset_index()


def mirror_pairs(decl: pd.DataFrame) -> pd.DataFrame:
    """One row per flow with the importer's and the exporter's declarations side by side."""
    wide = decl.pivot(index=list(FLOW_KEY), columns="side", values=["qty_t", "items", "value_usd", "imputed"])
    wide.columns = [f"{measure}_{side}" for measure, side in wide.columns]
    wide = wide.reset_index()
    for measure in ("qty_t", "items", "value_usd", "imputed"):
        for side in ("importer", "exporter"):
            if f"{measure}_{side}" not in wide.columns:
                wide[f"{measure}_{side}"] = np.nan
    marked = decl[decl["cross_code"].fillna("") != ""] if "cross_code" in decl.columns else decl.iloc[:0]
    codes = marked.groupby(list(FLOW_KEY))["cross_code"].max().rename("cross_code")
    wide = wide.merge(codes.reset_index(), on=list(FLOW_KEY), how="left") if len(codes) else wide.assign(cross_code="")
    wide["cross_code"] = wide["cross_code"].fillna("").astype(str)
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
    reported: pd.DataFrame,
    table: pd.DataFrame,
    rule: str,
    discrepancy_factor: float,
    cross_code: Sequence[Mapping[str, Any]] = (),
) -> pd.DataFrame:
    """The ``trade`` table (docs/data-model.md) of one year's ``reported`` table."""
    return reconcile_with_matches(reported, table, rule, discrepancy_factor, cross_code)[0]


def reconcile_with_matches(
    reported: pd.DataFrame,
    table: pd.DataFrame,
    rule: str,
    discrepancy_factor: float,
    cross_code: Sequence[Mapping[str, Any]] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``trade`` table and the cross-code matches (``CROSS_CODE_COLUMNS``) of one year."""
    _check_rule(rule)
    if discrepancy_factor <= 1:
        raise ReeflowError(f"trade.discrepancy_factor must exceed 1, got {discrepancy_factor}")
    rules = check_cross_code(cross_code, table["hs_code"].tolist())
    decl = declarations(reported)
    if decl.empty:
        return empty_table(TRADE_COLUMNS), empty_table(CROSS_CODE_COLUMNS)
    decl, matches = apply_cross_code(decl, rules)
    decl = align_national_lines(decl)
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
    return typed(flows, TRADE_COLUMNS), matches


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
