"""A supply-chain Sankey diagram drawn with matplotlib paths (no plotly, so it renders in Agg, to SVG
and inside the static report).

Columns are the five stages; in each column one node per country group (the highlighted countries
and the rest of the world). A link from (stage s, group A) to (stage s+1, group B) is the stage-s
material that group A sends to the processors of group B: exports A -> B when A != B, and for
A -> A the group's own output kept at home (production minus exports, never negative) plus trade
between members of the same group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from reeflow.commodities import STAGES

REST = "Rest of world"


@dataclass(frozen=True)
class SankeyData:
    """Node values (t REO-eq) indexed by (stage, group) and links (stage, source, target, value)."""

    groups: tuple[str, ...]
    nodes: pd.DataFrame  # stage, group, inflow_t, outflow_t, production_t, value_t
    links: pd.DataFrame  # stage, source, target, value_t  (stage = stage of the material)


def group_of(countries: pd.Series, highlight: Sequence[str]) -> pd.Series:
    keep = countries.astype(str).isin(list(highlight))
    return countries.astype(str).where(keep, REST)


def sankey_data(
    flows: pd.DataFrame, balance: pd.DataFrame, year: int, highlight: Sequence[str] = ("CHN", "USA")
) -> SankeyData:
    """Aggregate one year's flows and balances into Sankey nodes and links."""
    groups = (*highlight, REST)
    f = flows.loc[(flows["year"] == year) & (flows["exporter"] != flows["importer"])]
    f = f.assign(source=group_of(f["exporter"], highlight), target=group_of(f["importer"], highlight))
    traded = f.groupby(["stage", "source", "target"], as_index=False)["reo_t"].sum()
    traded = traded.rename(columns={"reo_t": "value_t"})

    b = balance.loc[balance["year"] == year]
    b = b.assign(group=group_of(b["country"], highlight))
    kept = (b["production_t"].fillna(0) - b["exports_t"].fillna(0)).clip(lower=0)
    home = b.assign(value_t=kept).groupby(["stage", "group"], as_index=False)["value_t"].sum()
    home = home.assign(source=home["group"], target=home["group"]).drop(columns="group")

    links = pd.concat([traded, home], ignore_index=True)
    links = links.loc[links["stage"].isin(STAGES[:-1]) & (links["value_t"] > 0)]
    links = links.groupby(["stage", "source", "target"], as_index=False)["value_t"].sum()

    production = b.groupby(["stage", "group"])["production_t"].sum()
    rows = []
    for i, stage in enumerate(STAGES):
        for group in groups:
            out_t = links.loc[(links["stage"] == stage) & (links["source"] == group), "value_t"].sum()
            in_t = 0.0
            if i > 0:
                prev = STAGES[i - 1]
                in_t = links.loc[(links["stage"] == prev) & (links["target"] == group), "value_t"].sum()
            prod = float(production.get((stage, group), 0.0) or 0.0)
            rows.append(
                {
                    "stage": stage,
                    "group": group,
                    "inflow_t": float(in_t),
                    "outflow_t": float(out_t),
                    "production_t": max(prod, 0.0),
                    "value_t": max(float(in_t), float(out_t), prod, 0.0),
                }
            )
    nodes = pd.DataFrame(rows)
    return SankeyData(groups=groups, nodes=nodes, links=links.reset_index(drop=True))


def _band(x0: float, x1: float, y0_top: float, y1_top: float, height: float) -> MplPath:
    """A filled S-shaped band from the right edge of one node to the left edge of the next."""
    xm = (x0 + x1) / 2
    verts = [
        (x0, y0_top), (xm, y0_top), (xm, y1_top), (x1, y1_top),
        (x1, y1_top - height),
        (xm, y1_top - height), (xm, y0_top - height), (x0, y0_top - height),
        (x0, y0_top),
    ]  # fmt: skip
    codes = [
        MplPath.MOVETO,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.LINETO,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CURVE4,
        MplPath.CLOSEPOLY,
    ]
    return MplPath(verts, codes)


def format_tonnes(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f} Mt"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f} kt"
    return f"{value:.0f} t"


def draw_sankey(
    ax: Axes,
    data: SankeyData,
    colours: Mapping[str, str],
    node_width: float = 0.10,
    gap_fraction: float = 0.04,
    label_min_fraction: float = 0.015,
) -> None:
    """Draw nodes and links on ``ax`` in data coordinates x in [0, n_stages-1], y in [0, 1].

    All columns share one scale (the fullest column fills the height), so node heights are
    comparable across stages and the shrinking of material through the chain stays visible."""
    nodes = data.nodes.set_index(["stage", "group"])
    column_totals = nodes.groupby(level="stage")["value_t"].sum()
    n_groups = len(data.groups)
    gap = gap_fraction
    usable = 1.0 - gap * (n_groups - 1)
    scale = usable / column_totals.max() if column_totals.max() > 0 else 0.0

    tops: dict[tuple[str, str], float] = {}
    for i, stage in enumerate(STAGES):
        y = 1.0
        for group in data.groups:
            height = nodes.loc[(stage, group), "value_t"] * scale
            tops[(stage, group)] = y
            ax.add_patch(
                Rectangle(
                    (i - node_width / 2, y - height),
                    node_width,
                    height,
                    facecolor=colours.get(group, "#999999"),
                    edgecolor="0.2",
                    linewidth=0.4,
                )
            )
            value = nodes.loc[(stage, group), "value_t"]
            if height >= label_min_fraction:
                ax.text(
                    i + node_width / 2 + 0.02,
                    y - height / 2,
                    f"{group}\n{format_tonnes(value)}",
                    va="center",
                    ha="left",
                    fontsize=5.5,
                    color="0.15",
                )
            y -= height + gap

    out_cursor = dict(tops)
    in_cursor = dict(tops)
    order = {g: k for k, g in enumerate(data.groups)}
    links = data.links.assign(
        _s=data.links["source"].map(order),
        _t=data.links["target"].map(order),
        _i=data.links["stage"].map({s: k for k, s in enumerate(STAGES)}),
    ).sort_values(["_i", "_s", "_t"])
    for link in links.itertuples(index=False):
        i = STAGES.index(link.stage)
        nxt = STAGES[i + 1]
        height = link.value_t * scale
        y0 = out_cursor[(link.stage, link.source)]
        y1 = in_cursor[(nxt, link.target)]
        path = _band(i + node_width / 2, i + 1 - node_width / 2, y0, y1, height)
        ax.add_patch(
            PathPatch(path, facecolor=colours.get(link.source, "#999999"), alpha=0.45, edgecolor="none")
        )
        out_cursor[(link.stage, link.source)] = y0 - height
        in_cursor[(nxt, link.target)] = y1 - height

    ax.set_xlim(-0.4, len(STAGES) - 0.45)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(range(len(STAGES)), [s.capitalize() for s in STAGES])
    ax.set_yticks([])
    ax.tick_params(axis="x", length=0)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
