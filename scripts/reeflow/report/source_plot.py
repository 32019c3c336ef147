"""Figure: BACI against Comtrade, so a user sees what the choice of trade source does to the numbers.

Left: the world's traded REO-eq per year by each source (the sum over flows both or either know).
Right: every country's exports and imports per year, BACI against Comtrade on log axes; points on
the diagonal agree, points on an axis are known to one source only (drawn at the axis floor).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reeflow.clean.source_comparison import COUNTRY_COMPARISON_COLUMNS
from reeflow.io import read_table
from reeflow.report.plots import OKABE_ITO, add_source, new_figure, no_data_panel, save_figure

HIGHLIGHT = ("USA", "CHN")


def plot_source_comparison(countries: pd.DataFrame, source: str) -> Figure:
    fig, axes = new_figure("stocks", 1, 2)
    totals_ax, scatter_ax = axes[0]
    exports = countries[countries["direction"] == "exports"]
    if exports.empty:
        no_data_panel(totals_ax, "flows in either source")
        no_data_panel(scatter_ax, "countries in either source")
        add_source(fig, source)
        return fig
    totals = exports.groupby("year")[["reo_t_baci", "reo_t_comtrade"]].sum(min_count=1)
    years = totals.index.to_numpy()
    width = 0.4
    totals_ax.bar(years - width / 2, totals["reo_t_baci"].fillna(0), width, label="BACI", color=OKABE_ITO["blue"])
    totals_ax.bar(years + width / 2, totals["reo_t_comtrade"].fillna(0), width, label="Comtrade",
                  color=OKABE_ITO["orange"])  # fmt: skip
    totals_ax.set_title("World trade, t REO-eq", fontsize=8)
    totals_ax.set_xticks(years)
    totals_ax.tick_params(axis="x", labelrotation=90)
    totals_ax.set_ylim(0, np.nanmax(totals.to_numpy(dtype=float)) * 1.25)
    totals_ax.legend(fontsize=6, ncols=2, loc="upper center")
    _scatter(scatter_ax, countries)
    add_source(fig, source)
    return fig


def _scatter(ax: Axes, countries: pd.DataFrame) -> None:
    values = countries[["reo_t_baci", "reo_t_comtrade"]].to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        no_data_panel(ax, "countries with REO-eq in either source")
        return
    floor = positive.min() / 3
    top = positive.max() * 3
    for direction, marker in (("exports", "o"), ("imports", "s")):
        part = countries[countries["direction"] == direction]
        x = part["reo_t_comtrade"].fillna(0).clip(lower=floor)
        y = part["reo_t_baci"].fillna(0).clip(lower=floor)
        key = part["country"].isin(HIGHLIGHT)
        ax.scatter(x[~key], y[~key], s=8, marker=marker, color=OKABE_ITO["grey"], alpha=0.6,
                   label=f"{direction}")  # fmt: skip
        ax.scatter(x[key], y[key], s=14, marker=marker, color=OKABE_ITO["vermillion"],
                   label=f"{direction}, USA/China")  # fmt: skip
    ax.plot([floor, top], [floor, top], color="0.4", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor / 1.5, top)
    ax.set_ylim(floor / 1.5, top)
    ax.set_xlabel("Comtrade, t REO-eq", fontsize=7)
    ax.set_ylabel("BACI, t REO-eq", fontsize=7)
    ax.set_title("Each country, exports and imports", fontsize=8)
    ax.legend(fontsize=5.5, loc="upper left")


def render_source_comparison(
    countries_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    svg_path: str | os.PathLike[str],
    source: str,
) -> None:
    table = read_table(countries_path, COUNTRY_COMPARISON_COLUMNS, "figure input")
    for column in ("year", "reo_t_baci", "reo_t_comtrade"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    save_figure(plot_source_comparison(table, source), png_path, svg_path)
