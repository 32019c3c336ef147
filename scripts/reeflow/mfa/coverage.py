"""How much of each balance value rests on two declarations, on one, or on none of the country's own.

A net import can be measured (both sides declared it) or an artefact (the country's exports were
never reported, by itself or by its partners). Keyless samples make this the rule rather than the
exception: before 2020 the real sample holds only China's imports, so China's exports are whatever
its partners happened to declare. Every balance row therefore carries

* ``two_sided_share``: the share of its traded REO-eq (imports + exports) on flows that both the
  exporter and the importer declared (NaN where the row has no trade);
* ``unreported_flows``: which of the country's own trade flows it did not report that year
  ("imports", "exports"), or, at this row's stage, reported only in part ("imports_partial",
  "exports_partial": its declarations to named partners add up to less than PARTIAL_BELOW of its
  own World total for the stage's codes, as in a sample that asked for one partner), joined by
  "+", or ""; such flows are known, wholly or partly, only from mirrors;

and the headline row says which of the US and China's flows nobody reported for itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from reeflow.commodities import STAGES

COVERAGE_COLUMNS: tuple[str, ...] = ("two_sided_share", "unreported_flows")
FLOW_NAMES: dict[str, str] = {"M": "imports", "X": "exports"}
PARTIAL_BELOW = 0.9  # partners' share of a reporter's World total below which its flow is partial


def reported_flows(coverage: pd.DataFrame) -> set[tuple[str, str]]:
    """(reporter, "imports"/"exports") pairs that a reporter declared for any table code in the year.

    Re-imports and re-exports count as reporting the flow: a customs service that publishes
    them publishes the flow."""
    if coverage.empty:
        return set()
    flows = coverage["flow"].astype(str).str[-1].map(FLOW_NAMES)
    return set(zip(coverage["reporter"].astype(str), flows.dropna(), strict=False))


def stage_of_codes(codes: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Stage of each reported code: the longest commodity-table code it starts with ('' if none)."""
    rows = table.assign(hs_code=table["hs_code"].astype(str)).sort_values(
        "hs_code", key=lambda c: c.str.len()
    )  # fmt: skip
    stage = pd.Series("", index=codes.index, dtype=object)
    text = codes.astype(str)
    for code, name in zip(rows["hs_code"], rows["stage"], strict=True):
        stage[text.str.startswith(code)] = name  # longer codes come later and win
    return stage


def partial_flows(
    world_check: pd.DataFrame, table: pd.DataFrame, below: float = PARTIAL_BELOW
) -> dict[tuple[str, str, str], float]:
    """(reporter, "imports"/"exports", stage) whose partner declarations cover less than ``below``
    of the reporter's World total (t, over the codes of that stage with a positive World row)."""
    if world_check.empty:
        return {}
    rows = world_check[(world_check["world_qty_t"] > 0) & world_check["flow"].isin(list(FLOW_NAMES))]
    rows = rows.assign(stage=stage_of_codes(rows["cmd_code"], table))
    rows = rows[rows["stage"] != ""]
    sums = rows.groupby(["reporter", "flow", "stage"])[["world_qty_t", "partners_qty_t"]].sum(min_count=1)
    share = (sums["partners_qty_t"].fillna(0.0) / sums["world_qty_t"]).clip(upper=1.0)
    return {(str(r), FLOW_NAMES[str(f)], str(st)): float(v) for (r, f, st), v in share.items() if v < below}


def unreported_flows(
    countries: Iterable[str],
    reported: set[tuple[str, str]],
    partial: dict[tuple[str, str, str], float] | None = None,
    stage: str | None = None,
) -> dict[str, str]:
    """Per country, the own flows it did not report ('imports+exports' when neither) or, at
    ``stage``, reported only in part."""
    partial = partial or {}
    out = {}
    for country in countries:
        tokens = []
        for name in ("imports", "exports"):
            if (country, name) not in reported:
                tokens.append(name)
            elif stage is not None and (country, name, stage) in partial:
                tokens.append(f"{name}_partial")
        out[country] = "+".join(tokens)
    return out


def two_sided_shares(
    reo: np.ndarray, stage_idx: np.ndarray, exporter_idx: np.ndarray, importer_idx: np.ndarray,
    two_sided: np.ndarray, n_countries: int,
) -> np.ndarray:  # fmt: skip
    """Share of each (stage, country)'s traded REO-eq on two-sided flows; NaN without trade."""
    total = np.zeros((len(STAGES), n_countries))
    both = np.zeros((len(STAGES), n_countries))
    for idx in (exporter_idx, importer_idx):
        np.add.at(total, (stage_idx, idx), reo)
        np.add.at(both, (stage_idx, idx), np.where(two_sided, reo, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, both / np.where(total > 0, total, 1.0), np.nan)


def balance_coverage(
    balance: pd.DataFrame,
    shares: np.ndarray,
    countries: list[str],
    reported: set[tuple[str, str]],
    partial: dict[tuple[str, str, str], float] | None = None,
) -> pd.DataFrame:
    """``balance`` with COVERAGE_COLUMNS added (``shares`` is stage x country, as two_sided_shares)."""
    position = {c: i for i, c in enumerate(countries)}
    stage_pos = {s: i for i, s in enumerate(STAGES)}
    rows = balance["stage"].map(stage_pos).to_numpy(dtype=int)
    cols = balance["country"].map(position).to_numpy(dtype=int)
    flags = pd.Series("imports+exports", index=balance.index, dtype=object)
    for stage, part in balance.groupby("stage", sort=False):
        missing = unreported_flows(countries, reported, partial, str(stage))
        flags[part.index] = part["country"].map(missing).fillna("imports+exports")
    return balance.assign(
        two_sided_share=shares[rows, cols] if len(balance) else np.array([], dtype=float),
        unreported_flows=flags.astype(str),
    )


def headline_coverage(balance: pd.DataFrame, countries: Iterable[str] = ("USA", "CHN")) -> dict[str, object]:
    """Headline coverage of one year: the REO-eq-weighted two-sided share of US and Chinese trade,
    and the US and Chinese flows that rest on no declaration of their own ('CHN exports; ...')."""
    rows = balance[balance["country"].isin(list(countries))]
    traded = (rows["imports_t"] + rows["exports_t"]).to_numpy(dtype=float)
    share = rows["two_sided_share"].to_numpy(dtype=float)
    known = np.isfinite(share) & (traded > 0)
    weighted = float((share[known] * traded[known]).sum() / traded[known].sum()) if known.any() else np.nan
    missing = []
    for country in countries:
        flags = rows.loc[rows["country"] == country, "unreported_flows"].astype(str)
        tokens = {t for flag in flags for t in flag.split("+") if t} if len(flags) else {"imports", "exports"}
        for name in ("imports", "exports"):
            if name in tokens:
                missing.append(f"{country} {name}")
            elif f"{name}_partial" in tokens:
                stages = rows.loc[(rows["country"] == country) & flags.str.contains(f"{name}_partial"), "stage"]
                missing.append(f"{country} {name} (partly: {', '.join(stages.astype(str))})")
    return {"two_sided_share": weighted, "missing_reporters": "; ".join(missing)}
