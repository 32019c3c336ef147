"""Figures of the supply-shock model (reeflow.mfa.shocks): shortfalls over the years, the
stabilisation measure with its Monte Carlo band, and one shock drawn on the trade network.

Same theme and conventions as reeflow.report.plots (fixed sizes, honest empty panels, source line).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reeflow.countries import WORLD
from reeflow.report.plots import (
    FLOWS_DRAWN,
    OKABE_ITO,
    UNIT,
    add_source,
    apply_theme,
    in_years,
    network_graph,
    no_data_panel,
    out_of_layout,
    read_part,
    save_figure,
)
from reeflow.schemas import (
    ACTUAL_NETWORK,
    BALANCE_PLOT_COLUMNS,
    EXPECTED_LINK_FAILURE,
    FLOW_COLUMNS,
    SHOCK_COLUMNS,
    SHOCK_COUNTERFACTUALS,
    STABILISATION_COLUMNS,
)

log = logging.getLogger(__name__)

# The columns the figures draw: 10 of the stabilisation table's 15 (32 MB at global scale), 7 of the shocks' 8
SHOCKS_DRAWN = ("year", "network", "scenario", "country", "stage", "order", "shortfall_share")
NETWORK_SHOCKS_DRAWN = ("year", "network", "scenario", "country", "order", "shortfall_t", "shortfall_share")
STABILISATION_DRAWN = (
    "year", "counterfactual", "shock_set", "country", "rerouting", "spare_fraction", "stabilisation", "p05", "p95",
    "n_draws",
)  # fmt: skip
SCENARIO_COLOURS: tuple[str, ...] = (
    OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["green"], OKABE_ITO["orange"], OKABE_ITO["purple"],
    OKABE_ITO["sky"], OKABE_ITO["black"], OKABE_ITO["yellow"], "#777777",
)  # fmt: skip


def _figure(nrows: int, ncols: int, height: float) -> tuple[Figure, np.ndarray]:
    import matplotlib.pyplot as plt

    apply_theme()
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.2, height), squeeze=False, layout="constrained")
    return fig, axes


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)] for i, name in enumerate(names)}


def final_rows(shocks: pd.DataFrame, order: str = "rerouted", network: str = ACTUAL_NETWORK) -> pd.DataFrame:
    """The final-stage rows of one order on one network (a thirtieth of the table: selected once for
    all the country panels rather than once per panel)."""
    return shocks[(shocks["network"] == network) & (shocks["order"] == order) & (shocks["stage"] == "final")]


def final_shortfall(shocks: pd.DataFrame, country: str, order: str = "rerouted",
                    network: str = ACTUAL_NETWORK) -> pd.DataFrame:  # fmt: skip
    """year x scenario table of a country's final-stage supply shortfall share (0 where no row)."""
    rows = final_rows(shocks, order, network)
    rows = rows[rows["country"] == country]
    return rows.pivot_table(index="year", columns="scenario", values="shortfall_share", aggfunc="sum")


def _shortfall_panel(ax: Axes, shocks: pd.DataFrame, country: str, colours: Mapping[str, str],
                     years: Sequence[int]) -> None:  # fmt: skip
    table = final_shortfall(shocks, country).reindex(index=years).fillna(0.0)
    if table.empty or not years:
        no_data_panel(ax, f"{country} shortfalls")
        return
    for scenario in colours:
        values = table[scenario] if scenario in table.columns else pd.Series(0.0, index=table.index)
        ax.plot(table.index, 100 * values, color=colours[scenario], marker="o", markersize=2, label=scenario)
    ax.set_title(f"{country}: final-stage supply lost (after rerouting)", loc="left")
    ax.set_ylabel("% of supply")
    ax.xaxis.get_major_locator().set_params(integer=True)


def world_rows(stab: pd.DataFrame, counterfactual: str) -> pd.DataFrame:
    """The world's stabilisation rows of one counterfactual (what both bottom panels draw)."""
    return stab[(stab["country"] == WORLD) & (stab["counterfactual"] == counterfactual)]


def _stabilisation_panel(ax: Axes, world: pd.DataFrame, counterfactual: str, colours: Mapping[str, str]) -> None:
    """``world``: world_rows of ``counterfactual``."""
    rows = world[world["rerouting"] == "configured"].sort_values("year")
    if rows.empty:
        no_data_panel(ax, f"stabilisation ({counterfactual})")
        return
    for scenario, colour in colours.items():
        r = rows[rows["shock_set"] == scenario]
        if r.empty:
            continue
        ax.plot(r["year"], 100 * r["stabilisation"], color=colour, marker="o", markersize=2, label=scenario)
        if r["n_draws"].max() > 0:
            ax.fill_between(r["year"], 100 * r["p05"], 100 * r["p95"], color=colour, alpha=0.15, linewidth=0)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_title(f"Stabilisation, world ({counterfactual} counterfactual)", loc="left")
    ax.set_ylabel("without links - with links, pp")
    ax.xaxis.get_major_locator().set_params(integer=True)


def _sweep_panel(ax: Axes, world: pd.DataFrame, shock_set: str) -> None:
    """``world``: world_rows of the counterfactual drawn."""
    rows = world[(world["shock_set"] == shock_set) & (world["rerouting"] != "configured")]
    if rows.empty:
        no_data_panel(ax, "the spare-fraction sweep")
        return
    fractions = sorted(rows["spare_fraction"].unique())
    cmap = __import__("matplotlib").colormaps["viridis"]
    for j, fraction in enumerate(fractions):
        r = rows[rows["spare_fraction"] == fraction].sort_values("year")
        ax.plot(r["year"], 100 * r["stabilisation"], color=cmap(j / max(len(fractions) - 1, 1)), marker="o",
                markersize=2, label=f"spare {fraction:g}")  # fmt: skip
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_title(f"Rerouting assumption: {shock_set}", loc="left")
    ax.set_ylabel("stabilisation, pp")
    ax.legend(fontsize=5.5, loc="best")
    ax.xaxis.get_major_locator().set_params(integer=True)


def plot_shocks(shocks: pd.DataFrame, stab: pd.DataFrame, source: str,
                countries: Sequence[str] = ("USA", "CHN")) -> Figure:  # fmt: skip
    """Top: each country's final-stage shortfall per scenario over the years. Bottom: the world's
    stabilisation (counterfactual minus actual shortfall share) with its Monte Carlo band, and how
    the spare fraction moves it for the expected link failure."""
    countries = list(countries) or ["CHN"]
    fig, axes = _figure(2, max(len(countries), 2), 5.6)
    # unique() first: iterating 10^5 pyarrow-backed strings one by one takes half a second
    scenarios = sorted(set(shocks["scenario"].unique()) | set(stab["shock_set"].unique()))
    scenarios = [s for s in scenarios if s != EXPECTED_LINK_FAILURE] + [EXPECTED_LINK_FAILURE]
    colours = _colours(scenarios)
    years = sorted(int(y) for y in pd.concat([shocks["year"], stab["year"]]).dropna().unique())
    final = final_rows(shocks)
    for ax, country in zip(axes[0], countries):
        _shortfall_panel(ax, final, country, colours, years)
    for ax in axes[0, len(countries):]:
        ax.set_visible(False)
    counterfactual = str(stab["counterfactual"].iloc[0]) if not stab.empty else SHOCK_COUNTERFACTUALS[0]
    world = world_rows(stab, counterfactual)
    _stabilisation_panel(axes[1, 0], world, counterfactual, colours)
    _sweep_panel(axes[1, 1], world, EXPECTED_LINK_FAILURE)
    for ax in axes[1, 2:]:
        ax.set_visible(False)
    handles = [Line2D([0], [0], color=c, marker="o", markersize=3, label=s) for s, c in colours.items()]
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 4), fontsize=6)
    add_source(fig, source)
    return fig


def scenario_rows(shocks: pd.DataFrame, year: int, scenario: str) -> pd.DataFrame:
    """One scenario's rows of one year on the actual network (selected once for both orders drawn)."""
    return shocks[(shocks["network"] == ACTUAL_NETWORK) & (shocks["year"] == year) & (shocks["scenario"] == scenario)]


def shortfall_by_country(shocks: pd.DataFrame, year: int, scenario: str, order: str) -> pd.Series:
    """Share of each country's supply (all stages) lost: sum of shortfalls / sum of supplies."""
    rows = scenario_rows(shocks, year, scenario)
    rows = rows[(rows["order"] == order) & (rows["shortfall_share"] > 0)]
    supply = rows["shortfall_t"] / rows["shortfall_share"]
    lost = rows.groupby("country")["shortfall_t"].sum()
    return (lost / supply.groupby(rows["country"]).sum()).fillna(0.0)


def cut_edges(scenario: Mapping[str, Any] | None) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(exporter, importer) pairs a links scenario cuts ('*' importer = all), and mine-shocked countries."""
    if not scenario:
        return set(), set(), set()
    exporters = set(scenario.get("exporters", []))  # a config item, validated and filled by the schema
    if scenario.get("kind") == "mine":
        return set(), set(), exporters
    importers = list(scenario.get("importers", [])) or ["*"]
    return {(e, i) for e in exporters for i in importers if e != i}, exporters, set()


def circle_order(nodes: Sequence[str], sizes: Sequence[float], shocked: set[str]) -> list[str]:
    """The nodes in their order, but the first shocked country (other than the largest node) moved
    opposite the largest one, so that the cut link between them is long enough to see."""
    order = list(nodes)
    if not order:
        return order
    largest = order[int(np.argmax(sizes))]
    moved = [n for n in order if n in shocked and n != largest][:1]
    for n in moved:
        order.remove(n)
        order.insert((order.index(largest) + (len(order) + 1) // 2) % (len(order) + 1), n)
    return order


def _draw_shock(ax: Axes, graph: Any, shares: pd.Series, scenario: Mapping[str, Any] | None, vmax: float) -> None:
    import matplotlib
    import networkx as nx

    cuts, exporters, mines = cut_edges(scenario)
    sizes = np.array([graph.nodes[n]["size"] for n in graph.nodes], dtype=float)
    pos = nx.circular_layout(circle_order(list(graph.nodes), sizes, exporters | mines))
    area = 30 + 700 * sizes / sizes.max() if sizes.max() > 0 else np.full(len(sizes), 60.0)
    cmap, norm = matplotlib.colormaps["Reds"], Normalize(0.0, vmax)
    colours = [cmap(norm(float(shares.get(n, 0.0)))) for n in graph]
    edges = list(graph.edges(data=True))
    cut = [(u, v) for u, v, _ in edges if (u, v) in cuts or (u, "*") in cuts]
    kept = [(u, v) for u, v, _ in edges if (u, v) not in cut]
    top = max((d["weight"] for *_, d in edges), default=1.0)
    for subset, style, colour in ((kept, "solid", "0.55"), (cut, "dashed", OKABE_ITO["vermillion"])):
        if subset:
            widths = [0.3 + 4.0 * graph.edges[e]["weight"] / top for e in subset]
            arrows = nx.draw_networkx_edges(graph, pos, edgelist=subset, ax=ax, width=widths, edge_color=colour,
                                            style=style, alpha=0.8, arrows=True, arrowsize=5,
                                            connectionstyle="arc3,rad=0.12", node_size=area)  # fmt: skip
            out_of_layout(arrows)
    outline = ["black" if n in mines else "0.3" for n in graph]
    widths = [2.0 if n in mines else 0.4 for n in graph]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=area, node_color=colours, edgecolors=outline, linewidths=widths)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=5)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, shrink=0.6, label="share of supply lost, all stages")


def plot_shock_network(flows: pd.DataFrame, balance: pd.DataFrame, shocks: pd.DataFrame, year: int | None,
                       scenario: Mapping[str, Any] | None, source: str, max_nodes: int = 30) -> Figure:  # fmt: skip
    """One shock on the year's trade network: cut links dashed red (a mine outage outlined in black),
    nodes shaded by the share of supply lost, propagated (left) and after rerouting (right)."""
    fig, axes = _figure(1, 2, 3.8)
    name = str(scenario["name"]) if scenario else "?"
    if year is None or scenario is None:
        for ax in axes.flat:
            no_data_panel(ax, f"the shock {name} (no year or scenario)")
        add_source(fig, source)
        return fig
    graph = network_graph(flows, balance, year, max_nodes=max_nodes)
    rows = scenario_rows(shocks, year, name)
    lost = {order: shortfall_by_country(rows, year, name, order) for order in ("propagated", "rerouted")}
    vmax = max([0.05, *(float(v.max()) for v in lost.values() if len(v))])  # one colour scale for both panels
    for ax, order in zip(axes.flat, ("propagated", "rerouted")):
        if graph.number_of_nodes() == 0:
            no_data_panel(ax, f"the {year} trade network")
            continue
        _draw_shock(ax, graph, lost[order], scenario, vmax)
        ax.set_title(f"{name}, {year}: {order}", loc="left")
    fig.text(0.01, 0.06, f"Node area ∝ supply ({UNIT}); edge width ∝ flow, all stages", fontsize=5.5, color="0.3")
    add_source(fig, source)
    return fig


def render_shocks(shocks: str, stabilisation: str, png: str, svg: str, source: str,
                  countries: Sequence[str]) -> None:  # fmt: skip
    fig = plot_shocks(read_part(shocks, list(SHOCK_COLUMNS), SHOCKS_DRAWN),
                      read_part(stabilisation, list(STABILISATION_COLUMNS), STABILISATION_DRAWN), source,
                      countries)  # fmt: skip
    save_figure(fig, png, svg)


def render_shock_network(flows: str, balance: str, shocks: str, png: str, svg: str, source: str, year: int,
                         scenario: Mapping[str, Any] | None, max_nodes: int) -> None:  # fmt: skip
    """``year`` 0 means the last year of the shocks table."""
    table = read_part(shocks, list(SHOCK_COLUMNS), NETWORK_SHOCKS_DRAWN)
    years = sorted(int(y) for y in table["year"].dropna().unique())
    chosen = year if year else (years[-1] if years else None)
    drawn = in_years([chosen])  # the network of one year: read only its rows
    fig = plot_shock_network(read_part(flows, FLOW_COLUMNS, FLOWS_DRAWN, drawn),
                             read_part(balance, BALANCE_PLOT_COLUMNS, filters=drawn), table, chosen, scenario, source,
                             max_nodes)  # fmt: skip
    save_figure(fig, png, svg)
