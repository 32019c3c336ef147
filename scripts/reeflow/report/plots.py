"""The study's figures: one plot function per figure, one shared theme, honest empty panels.

Every ``plot_*`` function takes plain DataFrames (the contracts of docs/data-model.md) and returns a
matplotlib Figure of a fixed size, so the PNG's pixel size is known in advance and the report lays
out predictably. Real data cover few reporters, so any input may be empty or sparse: a panel with
nothing to show says "no data for ..." instead of failing or drawing a misleading empty axis.
``render_*`` functions read the files, plot and write PNG + SVG atomically; the rule scripts call them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cycler import cycler  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import LogNorm, to_rgb  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from reeflow.io import CODE_DTYPES, atomic_path  # noqa: E402
from reeflow.io import read_table as io_read_table  # noqa: E402
from reeflow.report.sankey import REST, STAGES, draw_sankey, format_tonnes, sankey_data  # noqa: E402
from reeflow.schemas import BALANCE_PLOT_COLUMNS, FLOW_COLUMNS, UNCERTAINTY_COLUMNS  # noqa: E402

if TYPE_CHECKING:  # imported where a figure needs them: most figure jobs never pay for them
    import networkx as nx

log = logging.getLogger(__name__)

UNIT = "t REO-eq"
DPI = 300
WIDTH_IN = 7.2  # a double-column journal figure

# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000", "grey": "#999999",
}  # fmt: skip
STAGE_COLOURS: dict[str, str] = {
    "mining": OKABE_ITO["orange"], "separation": OKABE_ITO["sky"], "metal": OKABE_ITO["green"],
    "intermediate": OKABE_ITO["purple"], "final": OKABE_ITO["yellow"],
}  # fmt: skip
COUNTRY_COLOURS: dict[str, str] = {"USA": OKABE_ITO["blue"], "CHN": OKABE_ITO["vermillion"], REST: "#A0A0A0"}
OTHER_COLOURS: tuple[str, ...] = (
    OKABE_ITO["orange"], OKABE_ITO["sky"], OKABE_ITO["green"], OKABE_ITO["purple"], OKABE_ITO["yellow"],
    "#555555",
)  # fmt: skip
COUNTRY_NAMES = {"USA": "United States", "CHN": "China"}

# Input contracts (docs/data-model.md and the brief of each producing step).
FLOWS_DRAWN = ("year", "stage", "exporter", "importer", "reo_t")  # what the flow figures read of FLOW_COLUMNS
ORIGINS_COLUMNS = ("year", "stage", "country", "origin", "share")
STOCKS_COLUMNS = ("year", "country", "product", "inflow_t", "stock_t", "outflow_t")
OAT_COLUMNS = ("indicator", "year", "parameter", "low_value", "central_value", "high_value")
SOBOL_COLUMNS = ("indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf")
COVERAGE_COLUMNS = ("year", "reporter", "flow", "hs6", "n_records", "qty_t", "value_usd", "share_imputed")
DISCREPANCY_COLUMNS = (
    "year",
    "exporter",
    "importer",
    "hs6",
    "qty_t_importer",
    "qty_t_exporter",
    "ratio",
    "reason",
)
NUMERIC = {
    "year",
    "production_t",
    "imports_t",
    "exports_t",
    "apparent_consumption_t",
    "net_exports_t",
    "reo_t",
    "share",
    "inflow_t",
    "stock_t",
    "outflow_t",
    "p05",
    "p50",
    "p95",
    "low_value",
    "central_value",
    "high_value",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
    "n_records",
    "qty_t",
    "value_usd",
    "share_imputed",
    "qty_t_importer",
    "qty_t_exporter",
    "ratio",
}
# The headline indicator carrying each country's total net exports (uncertainty bands).
NET_EXPORT_INDICATOR = {"USA": "us_net_exports_t", "CHN": "china_net_exports_t"}

# Figure heights (inches) at WIDTH_IN; multi-panel figures add PANEL_HEIGHT per extra row.
HEIGHTS: dict[str, float] = {
    "net_trade": 5.6, "sankey": 3.4, "bilateral": 3.6, "origins": 2.8, "network": 4.2,
    "sensitivity": 3.8, "quality": 4.2, "stocks": 3.4,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Theme, layout, saving


def seaborn_theme() -> dict[str, object]:
    """The rcParams of seaborn's set_theme(context="paper", style="whitegrid", palette=Okabe-Ito,
    font_scale=0.9), written out so that a figure job need not import seaborn (half a second of
    scipy.stats) to look like one; tests/test_plots.py checks it against seaborn itself."""
    scale = 0.9 * 0.8  # font_scale x the "paper" context
    tick = {"major.size": 6 * 0.8, "major.width": 1.25 * 0.8, "minor.size": 4 * 0.8, "minor.width": 1.0 * 0.8}
    rc: dict[str, object] = {
        "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.grid": True, "axes.labelcolor": ".15",
        "axes.linewidth": 1.25 * 0.8, "axes.labelsize": 12 * scale, "axes.titlesize": 12 * scale,
        "axes.prop_cycle": cycler(color=[to_rgb(c) for c in OKABE_ITO.values()]),
        "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
        "font.size": 12 * scale, "grid.color": ".8", "legend.fontsize": 11 * scale,
        "legend.title_fontsize": 12 * scale, "lines.linewidth": 1.5 * 0.8, "lines.markersize": 6 * 0.8,
        "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
        "patch.linewidth": 1 * 0.8, "text.color": ".15", "xtick.bottom": False, "ytick.left": False,
        "xtick.color": ".15", "ytick.color": ".15", "xtick.labelsize": 11 * scale, "ytick.labelsize": 11 * scale,
    }  # fmt: skip
    for axis in ("xtick", "ytick"):
        rc |= {f"{axis}.{key}": value for key, value in tick.items()}
    return rc


def apply_theme() -> None:
    """One look for every figure; also fixes the SVG id salt so reruns give byte-identical SVGs."""
    plt.rcParams.update(seaborn_theme())
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": DPI, "svg.hashsalt": "reeflow", "svg.fonttype": "path",
        "axes.titlesize": 8.5, "axes.titleweight": "bold", "axes.labelsize": 7.5, "legend.fontsize": 6.5,
        "legend.title_fontsize": 7, "xtick.labelsize": 6.5, "ytick.labelsize": 6.5,
        "font.family": "DejaVu Sans",
        "axes.edgecolor": "0.4", "grid.linewidth": 0.4, "lines.linewidth": 1.2, "legend.frameon": False,
    })  # fmt: skip


def figure_size(kind: str, rows: int = 1) -> tuple[float, float]:
    """Figure size in inches; rows beyond the first add the figure's own height each."""
    if kind not in HEIGHTS:
        raise ValueError(f"unknown figure kind {kind!r}; known: {', '.join(HEIGHTS)}")
    return (WIDTH_IN, HEIGHTS[kind] * max(rows, 1))


def new_figure(
    kind: str, nrows: int = 1, ncols: int = 1, rows_scale: int | None = None, **subplot_kw: object
) -> tuple[Figure, np.ndarray]:
    apply_theme()
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=figure_size(kind, rows_scale or 1),
        squeeze=False,
        layout="constrained",
        **subplot_kw,
    )
    return fig, axes


def add_source(fig: Figure, source: str) -> None:
    """The source line sits in a strip the layout engine keeps free at the bottom."""
    height_in = fig.get_size_inches()[1]
    strip = min(0.25 / height_in, 0.2)
    fig.get_layout_engine().set(rect=(0, strip, 1, 1 - strip))
    fig.text(0.005, strip * 0.35, source, fontsize=5.5, color="0.35", ha="left", va="bottom")


def no_data_panel(ax: Axes, what: str) -> None:
    """An honest empty panel: says what is missing instead of an empty axis that looks like zero."""
    ax.set_facecolor("#f4f4f4")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.text(
        0.5,
        0.5,
        f"No data for {what}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=8,
        color="0.3",
        style="italic",
        wrap=True,
    )


def save_figure(
    fig: Figure,
    png_path: str | os.PathLike[str],
    svg_path: str | os.PathLike[str] | None = None,
    dpi: int = DPI,
) -> None:
    """PNG and SVG written atomically; the fixed size (no tight bbox) keeps the pixel size predictable."""
    try:
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
        if svg_path is not None:
            with atomic_path(svg_path) as tmp:
                fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# Reading inputs


def read_table(path: str | os.PathLike[str], columns: Sequence[str]) -> pd.DataFrame:
    """A results table with its contract checked (reeflow.io.read_table), numbers as numbers."""
    return coerce_numeric(io_read_table(path, columns, "figure input"))


ParquetFilters = list[tuple[str, str, object]]


def read_part(
    path: str | os.PathLike[str],
    contract: Sequence[str],
    use: Sequence[str] | None = None,
    filters: ParquetFilters | None = None,
) -> pd.DataFrame:
    """The part of a figure input that the figure draws: the columns ``use`` (default: the
    contract's) and, from Parquet, the rows matching ``filters`` (pyarrow's form, applied while
    reading: a one-year figure reads 5% of the 1.7 M rows of a global flows.parquet). Only a file
    whose header holds the whole contract is read this way; the plot functions select their rows
    themselves, so this only saves work. A file that cannot be read so (missing, corrupt, empty,
    incomplete, or a filter that does not apply to its types) goes through read_table whole, which
    checks the contract and names what is wrong."""
    path = os.fspath(path)
    columns = list(use or contract)
    try:
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq  # pandas has loaded pyarrow already

            if set(contract) <= set(pq.read_schema(path).names):
                return coerce_numeric(pd.read_parquet(path, columns=columns, filters=filters))
        elif filters is None and set(contract) <= set(pd.read_csv(path, nrows=0).columns):
            dtypes = {c: t for c, t in CODE_DTYPES.items() if c in columns}
            return coerce_numeric(pd.read_csv(path, usecols=columns, dtype=dtypes))
    except (OSError, ValueError, TypeError, KeyError):  # pyarrow's and pandas' read errors derive from these
        pass
    return read_table(path, contract)


def coerce_numeric(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats (year as Int64) whatever the file stored, so empty tables plot like full ones."""
    out = table.copy()
    for col in out.columns:
        if col == "year":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
        elif col in NUMERIC:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


def stage_legend(fig: Figure, extra: Sequence[Patch | Line2D] = ()) -> None:
    """One legend for the whole figure, above the panels (in place of a title: the caption has it),
    so it never hides a bar."""
    handles = [Patch(facecolor=STAGE_COLOURS[s], edgecolor="0.3", linewidth=0.3, label=s) for s in STAGES]
    items = [*handles, *extra]
    ncol = len(items) if len(items) <= 7 else (len(items) + 1) // 2  # two rows rather than cut off
    fig.legend(handles=items, loc="outside upper center", ncol=ncol, fontsize=6.5)


def _years(frame: pd.DataFrame) -> list[int]:
    return sorted(int(y) for y in frame["year"].dropna().unique())


def _country_label(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)


def _unit_of(indicator: str) -> str:
    if indicator.endswith("_t"):
        return UNIT
    if "share" in indicator:
        return "share, 0-1"
    if "rank" in indicator:
        return "rank"
    return "index, dimensionless"


# --------------------------------------------------------------------------------------------
# fig_net_trade


def plot_net_trade(
    balance: pd.DataFrame, uncertainty: pd.DataFrame, source: str, countries: Sequence[str] = ("USA", "CHN")
) -> Figure:
    """Net exports by stage (stacked bars: above zero the country sells, below it buys) and the
    total with its Monte Carlo p05-p95 band where the sensitivity step provided one."""
    fig, axes = new_figure("net_trade", len(countries), 1, sharex=False)
    banded = False
    for ax, country in zip(axes[:, 0], countries):
        banded = _net_trade_panel(ax, balance, uncertainty, country) or banded
    extra: list[Patch | Line2D] = [
        Line2D([0], [0], color="black", marker="o", markersize=2.5, label="total (central)")
    ]
    if "unreported_flows" in balance.columns and (balance["unreported_flows"].fillna("") != "").any():
        extra.append(Patch(facecolor="white", edgecolor="0.3", hatch=UNREPORTED_HATCH, label="own flows unreported"))
        extra.append(Patch(facecolor="white", edgecolor="0.3", hatch=PARTIAL_HATCH, label="partly reported"))
    if banded:
        extra.append(Patch(facecolor="0.2", alpha=0.18, label="total p05-p95"))
    stage_legend(fig, extra)
    add_source(fig, source)
    return fig


def _net_trade_panel(ax: Axes, balance: pd.DataFrame, uncertainty: pd.DataFrame, country: str) -> bool:
    """Draw one country; return whether an uncertainty band was drawn."""
    ax.set_title(f"{_country_label(country)}: net rare-earth exports by supply-chain stage", loc="left")
    rows = balance.loc[balance["country"] == country]
    if rows.empty or rows["net_exports_t"].notna().sum() == 0:
        no_data_panel(ax, f"{_country_label(country)} net trade (no balance rows)")
        return False
    table = rows.pivot_table(index="year", columns="stage", values="net_exports_t", aggfunc="sum").fillna(0.0)
    years = np.array([int(y) for y in table.index])
    pos_base = np.zeros(len(years))
    neg_base = np.zeros(len(years))
    flags = unreported_flags(rows)
    for stage in [s for s in STAGES if s in table.columns]:
        values = table[stage].to_numpy(dtype=float)
        pos, neg = np.clip(values, 0, None), np.clip(values, None, 0)
        for part, base, label in ((pos, pos_base, stage), (neg, neg_base, None)):
            bars = ax.bar(years, part, bottom=base, color=STAGE_COLOURS[stage], edgecolor="0.3", linewidth=0.3,
                          width=0.8, label=label)  # fmt: skip
            hatch_unreported(bars, years, stage, flags)
        pos_base += pos
        neg_base += neg
    unreported_note(ax, flags)
    total = table.sum(axis=1).to_numpy(dtype=float)
    ax.plot(years, total, color="black", marker="o", markersize=2.5, label="total (central)")
    band = uncertainty.loc[uncertainty["indicator"] == NET_EXPORT_INDICATOR.get(country, "")]
    band = band.dropna(subset=["year", "p05", "p95"]).sort_values("year")
    if not band.empty:
        ax.fill_between(
            band["year"].astype(int),
            band["p05"],
            band["p95"],
            color="0.2",
            alpha=0.18,
            linewidth=0,
            label="total p05-p95",
            zorder=0.5,  # behind the bars, which stay readable; the edges are drawn on top
        )
        for edge in ("p05", "p95"):
            ax.plot(band["year"].astype(int), band[edge], color="0.25", linewidth=0.8, linestyle="--", zorder=4)
    ax.axhline(0, color="0.2", linewidth=0.6)
    ax.set_ylabel(f"Net exports ({UNIT})")
    ax.set_xlabel("Year")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return not band.empty


# --------------------------------------------------------------------------------------------
# fig_sankey


UNREPORTED_HATCH = "////"  # the country declared none of its imports or exports that year
PARTIAL_HATCH = ".."  # it declared them to some partners only (short of its own World total)


def unreported_flags(rows: pd.DataFrame) -> dict[tuple[int, str], set[str]]:
    """(year, stage) -> the country's own flows it did not report, or reported in part (the
    tokens of the balance's ``unreported_flows``); empty where the column is absent."""
    if "unreported_flows" not in rows.columns:
        return {}
    out = {}
    for year, stage, flag in zip(rows["year"], rows["stage"], rows["unreported_flows"].fillna(""), strict=True):
        tokens = {t for t in str(flag).split("+") if t}
        if tokens:
            out[(int(year), str(stage))] = tokens
    return out


def hatch_unreported(bars: BarContainer, years: np.ndarray, stage: str, flags: dict[tuple[int, str], set[str]]) -> None:
    """Hatch and fade one stage's bars in the years whose value rests on partners' mirror
    declarations alone (or in part), so that an export nobody reported is never read as a
    measured net import."""
    for patch, year in zip(bars.patches, years, strict=False):
        tokens = flags.get((int(year), stage), set())
        if tokens & {"imports", "exports"}:
            patch.set_hatch(UNREPORTED_HATCH)
            patch.set_alpha(0.45)
        elif tokens:
            patch.set_hatch(PARTIAL_HATCH)
            patch.set_alpha(0.7)


def unreported_note(ax: Axes, flags: dict[tuple[int, str], set[str]]) -> None:
    """Say in the panel what the hatching stands for in this country's data."""
    whole = sorted({t for f in flags.values() for t in f if "_" not in t})
    part = sorted({t.split("_")[0] for f in flags.values() for t in f if t.endswith("_partial")})
    notes = []
    if whole:
        notes.append(f"{UNREPORTED_HATCH}: own {' and '.join(whole)} not reported")
    if part:
        notes.append(f"{PARTIAL_HATCH}: own {' and '.join(part)} reported for some partners only")
    if notes:
        ax.text(0.01, 0.02, "; ".join(notes), transform=ax.transAxes, fontsize=7, color="0.25", va="bottom")


def plot_sankey(
    flows: pd.DataFrame,
    balance: pd.DataFrame,
    years: Sequence[int],
    source: str,
    highlight: Sequence[str] = ("CHN", "USA"),
) -> Figure:
    """One Sankey panel per configured year, stages left to right, China and the US highlighted."""
    years = list(years) or [None]
    fig, axes = new_figure("sankey", len(years), 1, rows_scale=len(years))
    colours = {**COUNTRY_COLOURS}
    for ax, year in zip(axes[:, 0], years):
        if year is None:
            no_data_panel(ax, "any year (figures.sankey_years is empty)")
            continue
        ax.set_title(f"Global rare-earth flows through the supply chain, {year}", loc="left")
        has_rows = (flows["year"] == year).any() or (balance["year"] == year).any()
        data = sankey_data(flows, balance, int(year), highlight) if has_rows else None
        if data is None or data.nodes["value_t"].sum() <= 0:
            no_data_panel(ax, f"{year} (no flows or production in the MFA results)")
            continue
        draw_sankey(ax, data, colours)
        ax.set_ylabel(f"Node height ∝ {UNIT}\n(one scale for all stages)", fontsize=6.5)
        handles = [Patch(facecolor=colours[g], label=_country_label(g)) for g in data.groups]
        ax.legend(
            handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=6, ncol=len(handles)
        )
        ax.grid(False)
    add_source(fig, source)
    return fig


# --------------------------------------------------------------------------------------------
# fig_bilateral


BILATERAL_PAIR: tuple[str, str] = ("USA", "CHN")  # the pair fig_bilateral draws


def plot_bilateral(flows: pd.DataFrame, source: str, a: str = BILATERAL_PAIR[0], b: str = BILATERAL_PAIR[1]) -> Figure:
    """Both directions of the a-b trade by stage, on a shared axis so the asymmetry is visible."""
    fig, axes = new_figure("bilateral", 1, 2, sharey=True)
    directions = [(a, b), (b, a)]
    years = _years(flows.loc[flows["exporter"].isin([a, b]) & flows["importer"].isin([a, b])])
    for ax, (exporter, importer) in zip(axes[0], directions):
        ax.set_title(f"{_country_label(exporter)} → {_country_label(importer)}", loc="left")
        rows = flows.loc[(flows["exporter"] == exporter) & (flows["importer"] == importer)]
        table = rows.pivot_table(index="year", columns="stage", values="reo_t", aggfunc="sum")
        if table.empty or float(table.fillna(0).to_numpy().sum()) <= 0:
            no_data_panel(ax, f"{exporter} → {importer} flows")
            continue
        table = table.reindex(years).fillna(0.0)
        base = np.zeros(len(table))
        for stage in [s for s in STAGES if s in table.columns]:
            values = table[stage].to_numpy(dtype=float)
            ax.bar(
                table.index.astype(int),
                values,
                bottom=base,
                color=STAGE_COLOURS[stage],
                width=0.8,
                edgecolor="0.3",
                linewidth=0.3,
                label=stage,
            )
            base += values
        ax.set_xlabel("Year")
        ax.set_ylabel(f"Flow ({UNIT}/yr)")
        ax.yaxis.set_tick_params(labelleft=True)
        ax.xaxis.get_major_locator().set_params(integer=True)
    stage_legend(fig)
    add_source(fig, source)
    return fig


# --------------------------------------------------------------------------------------------
# fig_origins


ORIGINS_STAGE = "final"  # whose supply fig_origins traces to the mines


def origin_shares(origins: pd.DataFrame, country: str, stage: str = ORIGINS_STAGE, top: int = 5) -> pd.DataFrame:
    """Year x origin shares for one country, the ``top`` origins kept and the rest pooled.

    Shares that do not reach 1 leave an explicit "unattributed" slice rather than a silent gap."""
    rows = origins.loc[(origins["country"] == country) & (origins["stage"] == stage)]
    table = rows.pivot_table(index="year", columns="origin", values="share", aggfunc="sum").fillna(0.0)
    if table.empty:
        return table
    ranking = table.mean().sort_values(ascending=False)
    keep = list(ranking.index[:top])
    out = table[keep].copy()
    rest = table.drop(columns=keep).sum(axis=1)
    if (rest > 0).any():
        out["other"] = rest
    gap = (1.0 - out.sum(axis=1)).clip(lower=0)
    if (gap > 1e-9).any():
        out["unattributed"] = gap
    out.index = out.index.astype(int)
    return out


def _origin_colour(origin: str, others: list[str]) -> str:
    if origin in COUNTRY_COLOURS and origin != REST:
        return COUNTRY_COLOURS[origin]
    if origin == "other":
        return "#A0A0A0"
    if origin == "unattributed":
        return "#E8E8E8"
    return OTHER_COLOURS[others.index(origin) % len(OTHER_COLOURS)]


def plot_origins(
    origins: pd.DataFrame, countries: Sequence[str], source: str, stage: str = ORIGINS_STAGE
) -> Figure:
    """Where the REE in each country's final-stage supply was mined (origin tracing shares)."""
    countries = list(countries) or ["(none configured)"]
    ncols = 2 if len(countries) > 1 else 1
    nrows = math.ceil(len(countries) / ncols)
    fig, axes = new_figure("origins", nrows, ncols, rows_scale=nrows)
    for ax in axes.flat[len(countries) :]:
        ax.set_visible(False)
    for ax, country in zip(axes.flat, countries):
        ax.set_title(f"{_country_label(country)}: {stage}-stage supply by mine country", loc="left")
        table = origin_shares(origins, country, stage)
        if table.empty:
            no_data_panel(ax, f"{country} ({stage} stage origins)")
            continue
        others = [c for c in table.columns if c not in COUNTRY_COLOURS and c not in ("other", "unattributed")]
        colours = [_origin_colour(c, others) for c in table.columns]
        if len(table) == 1:
            table = pd.concat([table, table.set_axis(table.index + 1)])  # one year: draw a visible band
        ax.stackplot(
            table.index,
            (100 * table.T).to_numpy(),
            labels=list(table.columns),
            colors=colours,
            edgecolor="white",
            linewidth=0.3,
        )
        ax.set_ylim(0, 100)
        ax.set_xlim(table.index.min(), table.index.max())
        ax.set_ylabel(f"Share of mined {UNIT} (%)")
        ax.set_xlabel("Year")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=5.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    add_source(fig, source)
    return fig


# --------------------------------------------------------------------------------------------
# fig_network


def network_graph(
    flows: pd.DataFrame,
    balance: pd.DataFrame,
    year: int,
    max_nodes: int = 30,
    max_edges: int = 150,
    always: Sequence[str] = ("USA", "CHN"),
) -> nx.DiGraph:
    """The year's trade network over all stages: nodes carry supply (production + imports, t REO-eq),
    edges the summed flow. Only the largest nodes and edges are kept so the drawing stays legible."""
    f = flows.loc[(flows["year"] == year) & (flows["exporter"] != flows["importer"])]
    edges = f.groupby(["exporter", "importer"], as_index=False)["reo_t"].sum()
    edges = edges.loc[edges["reo_t"] > 0]
    b = balance.loc[balance["year"] == year]
    supply = (b["production_t"].fillna(0) + b["imports_t"].fillna(0)).groupby(b["country"]).sum()
    traded = pd.concat([edges.groupby("exporter")["reo_t"].sum(), edges.groupby("importer")["reo_t"].sum()])
    traded = traded.groupby(level=0).sum()
    size = supply.reindex(supply.index.union(traded.index)).fillna(0.0)
    size = size.where(size > 0, traded.reindex(size.index).fillna(0.0))
    ranked = list(size.sort_values(ascending=False).index[:max_nodes])
    keep = [c for c in always if c in size.index] + [c for c in ranked if c not in always]
    keep = keep[: max(max_nodes, len([c for c in always if c in size.index]))]
    import networkx as nx

    graph = nx.DiGraph()
    for country in keep:
        graph.add_node(str(country), size=float(size.get(country, 0.0)))
    kept = edges.loc[edges["exporter"].isin(keep) & edges["importer"].isin(keep)]
    for row in kept.nlargest(max_edges, "reo_t").itertuples(index=False):
        graph.add_edge(str(row.exporter), str(row.importer), weight=float(row.reo_t))
    return graph


def _draw_network(ax: Axes, graph: nx.DiGraph) -> None:
    import networkx as nx

    pos = nx.circular_layout(list(graph.nodes))  # order = importance, so big players sit together
    sizes = np.array([graph.nodes[n]["size"] for n in graph.nodes], dtype=float)
    node_area = 30 + 900 * sizes / sizes.max() if sizes.max() > 0 else np.full(len(sizes), 60.0)
    node_colours = [COUNTRY_COLOURS.get(n, "#C8C8C8") if n in ("USA", "CHN") else "#C8C8C8" for n in graph]
    weights = np.array([d["weight"] for _, _, d in graph.edges(data=True)], dtype=float)
    if len(weights):
        widths = 0.3 + 5.0 * weights / weights.max()
        edge_colours = [
            COUNTRY_COLOURS.get(u, "#7A7A7A") if u in ("USA", "CHN") else "#7A7A7A" for u, _ in graph.edges
        ]
        arrows = nx.draw_networkx_edges(
            graph,
            pos,
            ax=ax,
            width=widths,
            edge_color=edge_colours,
            alpha=0.6,
            arrows=True,
            arrowsize=5,
            connectionstyle="arc3,rad=0.12",
            node_size=node_area,
        )
        out_of_layout(arrows)
    nx.draw_networkx_nodes(
        graph, pos, ax=ax, node_size=node_area, node_color=node_colours, edgecolors="0.25", linewidths=0.4
    )
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=5)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")


def out_of_layout(arrows: Sequence[Artist]) -> None:
    """Leave a network's arrows out of the constrained layout. They are clipped to their axes, so
    they never widen its layout box; matplotlib skips such artists only when their clip box equals
    the axes box to the last bit, which rounding at 300 dpi defeats, and it then computes the Bezier
    shape of every arrow in every layout pass (a third of fig_shock_network's save)."""
    for arrow in arrows:
        arrow.set_in_layout(False)


def plot_network(
    flows: pd.DataFrame, balance: pd.DataFrame, years: Sequence[int], source: str, max_nodes: int = 30
) -> Figure:
    years = list(years) or [None]
    ncols = min(len(years), 2)
    nrows = math.ceil(len(years) / ncols)
    fig, axes = new_figure("network", nrows, ncols, rows_scale=nrows)
    for ax in axes.flat[len(years) :]:
        ax.set_visible(False)
    for ax, year in zip(axes.flat, years):
        if year is None:
            no_data_panel(ax, "any year (figures.network_years is empty)")
            continue
        ax.set_title(f"Trade network {year}", loc="left")
        graph = network_graph(flows, balance, int(year), max_nodes=max_nodes)
        if graph.number_of_nodes() == 0:
            no_data_panel(ax, f"{year} trade network (no flows or balances)")
            continue
        _draw_network(ax, graph)
        biggest = max(graph.nodes, key=lambda n: graph.nodes[n]["size"])
        top_edge = max((d["weight"] for *_, d in graph.edges(data=True)), default=0.0)
        ax.text(
            0.0,
            0.0,
            f"Node area ∝ supply = production + imports ({UNIT});\n"
            f"largest {biggest}: {format_tonnes(graph.nodes[biggest]['size'])}. Edge width ∝ flow "
            f"({UNIT}/yr); largest {format_tonnes(top_edge)}",
            transform=ax.transAxes,
            fontsize=5.5,
            color="0.3",
            va="top",
        )
    legend = [
        Line2D(
            [0],
            [0],
            marker="o",
            color="w",
            markerfacecolor=COUNTRY_COLOURS[c],
            markersize=6,
            label=f"{_country_label(c)} and its exports",
        )
        for c in ("USA", "CHN")
    ]
    fig.legend(handles=legend, loc="outside upper center", ncol=2, fontsize=6.5)
    add_source(fig, source)
    return fig


# --------------------------------------------------------------------------------------------
# fig_sensitivity


def choose_indicator(oat: pd.DataFrame, sobol: pd.DataFrame, preferred: str) -> str | None:
    """The configured indicator if the tables have it, else the first one they share."""
    available = list(
        dict.fromkeys([*oat["indicator"].dropna().astype(str), *sobol["indicator"].dropna().astype(str)])
    )
    if preferred in available:
        return preferred
    if available:
        log.warning("sensitivity indicator %s not in the tables; showing %s", preferred, available[0])
        return available[0]
    return None


def plot_sensitivity(
    oat: pd.DataFrame,
    sobol: pd.DataFrame,
    source: str,
    indicator: str = "us_net_exports_t",
    year: int | None = None,
    top: int = 12,
) -> Figure:
    """Tornado (one-at-a-time swings around the central run) beside Sobol first-order and total
    indices: the tornado shows direction and size, Sobol shows what matters with interactions."""
    fig, axes = new_figure("sensitivity", 1, 2)
    chosen = choose_indicator(oat, sobol, indicator)
    if year is None:
        years = oat.loc[oat["indicator"] == chosen, "year"].dropna()
        year = int(years.max()) if not years.empty else None
    _tornado(axes[0, 0], oat, chosen, year, top)
    _sobol(axes[0, 1], sobol, chosen, year, top)
    add_source(fig, source)
    return fig


def _tornado(ax: Axes, oat: pd.DataFrame, indicator: str | None, year: int | None, top: int) -> None:
    rows = oat.loc[oat["indicator"] == indicator] if indicator else oat.iloc[0:0]
    rows = rows.loc[rows["year"] == year].dropna(subset=["central_value"])
    if rows.empty:
        ax.set_title("One-at-a-time sensitivity", loc="left")
        no_data_panel(ax, "one-at-a-time sensitivity")
        return
    central = float(rows["central_value"].median())
    rows = rows.assign(low=rows["low_value"] - central, high=rows["high_value"] - central)
    rows = rows.assign(swing=rows[["low", "high"]].abs().max(axis=1)).nlargest(top, "swing").iloc[::-1]
    y = np.arange(len(rows))
    ax.barh(y, rows["low"].fillna(0), left=central, color=OKABE_ITO["sky"], label="parameter low")
    ax.barh(y, rows["high"].fillna(0), left=central, color=OKABE_ITO["orange"], label="parameter high")
    ax.axvline(central, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["parameter"].astype(str))
    ax.set_xlabel(f"{indicator} ({_unit_of(str(indicator))})")
    ax.set_title(f"One-at-a-time, {year}", loc="left")
    ax.legend(fontsize=6, loc="lower right")


def _sobol(ax: Axes, sobol: pd.DataFrame, indicator: str | None, year: int | None, top: int) -> None:
    """Sobol indices of one indicator; per-year tables show the tornado's year (else their latest)."""
    rows = sobol.loc[sobol["indicator"] == indicator] if indicator else sobol.iloc[0:0]
    rows = rows.dropna(subset=["ST"])
    if "year" in rows.columns and rows["year"].notna().any():
        available = set(int(y) for y in rows["year"].dropna())
        year = year if year in available else max(available)
        rows = rows.loc[rows["year"] == year]
    else:
        year = None
    ax.set_title(f"Sobol indices{', ' + str(year) if year else ''}", loc="left")
    if rows.empty:
        no_data_panel(ax, "Sobol indices")
        return
    rows = rows.nlargest(top, "ST").iloc[::-1]
    y = np.arange(len(rows))
    ax.barh(
        y + 0.2,
        rows["ST"],
        height=0.4,
        xerr=rows["ST_conf"].fillna(0),
        color=OKABE_ITO["blue"],
        label="total (ST)",
        error_kw={"linewidth": 0.6},
    )
    ax.barh(
        y - 0.2,
        rows["S1"].fillna(0),
        height=0.4,
        xerr=rows["S1_conf"].fillna(0),
        color=OKABE_ITO["green"],
        label="first order (S1)",
        error_kw={"linewidth": 0.6},
    )
    ax.set_yticks(y, rows["parameter"].astype(str))
    ax.set_xlabel("Sobol index (share of variance, dimensionless)")
    ax.set_xlim(left=min(0.0, float(rows["S1"].min()) - 0.05))
    ax.legend(fontsize=6, loc="lower right")


# --------------------------------------------------------------------------------------------
# fig_quality


def coverage_matrix(coverage: pd.DataFrame, top: int = 40) -> pd.DataFrame:
    """Reporter x year record counts (NaN where a reporter declared nothing that year)."""
    table = coverage.pivot_table(index="reporter", columns="year", values="n_records", aggfunc="sum")
    if table.empty:
        return table
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index[:top]]
    table.columns = [int(c) for c in table.columns]
    return table.where(table > 0)


def plot_quality(
    coverage: pd.DataFrame, discrepancies: pd.DataFrame, source: str, factor: float = 2.0
) -> Figure:
    """Who reported what (coverage) and how far the two sides of a flow disagree (mirror check)."""
    fig, axes = new_figure("quality", 1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    _coverage_heatmap(axes[0, 0], coverage)
    _mirror_scatter(axes[0, 1], discrepancies, factor)
    add_source(fig, source)
    return fig


def _coverage_heatmap(ax: Axes, coverage: pd.DataFrame) -> None:
    ax.set_title("Reported records by reporter and year", loc="left")
    table = coverage_matrix(coverage)
    if table.empty or table.notna().sum().sum() == 0:
        no_data_panel(ax, "trade coverage (no reported records)")
        return
    ax.set_facecolor("#f0f0f0")
    low, high = float(np.nanmin(table.to_numpy())), float(np.nanmax(table.to_numpy()))
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(table.to_numpy(dtype=float)),
        cmap="cividis",
        norm=LogNorm(vmin=low, vmax=max(high, low * 10)),  # counts span orders of magnitude
        edgecolors="white",
        linewidth=0.2,
        rasterized=True,  # up to ~250 reporters x years cells: a raster layer keeps the SVG small and quick
    )
    colorbar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
    colorbar.set_label("Records declared (count, log scale)")
    colorbar.outline.set_visible(False)
    ax.grid(False)
    _cell_ticks(ax, [str(c) for c in table.columns], [str(i) for i in table.index], fontsize=5.5)
    ax.set_xlabel("Year")
    ax.set_ylabel("Reporter (ISO3)")


def _cell_ticks(ax: Axes, columns: Sequence[str], rows: Sequence[str], fontsize: float) -> None:
    """Labels at cell centres, first row on top (a heatmap's layout, drawn with matplotlib alone:
    seaborn costs the job 0.8 s of import). Where labels would overlap only every k-th is shown."""
    width_pt, height_pt = (ax.figure.get_size_inches() * ax.get_position().size * 72.0).tolist()

    def ticks(n: int, room_pt: float) -> np.ndarray:
        step = max(1, math.ceil(n / max(1.0, room_pt / (fontsize * 1.3))))
        return np.arange(0, n, step)

    x = ticks(len(columns), width_pt)  # many years are rotated: each label then takes one line across
    y = ticks(len(rows), height_pt)
    ax.set_xticks(x + 0.5, labels=[columns[i] for i in x], rotation=90 if len(x) > 12 else 0)
    ax.set_yticks(y + 0.5, labels=[rows[i] for i in y])
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.tick_params(axis="both", labelsize=fontsize, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _mirror_scatter(ax: Axes, discrepancies: pd.DataFrame, factor: float) -> None:
    ax.set_title("Mirror declarations of the same flow", loc="left")
    both = discrepancies.loc[(discrepancies["qty_t_importer"] > 0) & (discrepancies["qty_t_exporter"] > 0)]
    one_sided = len(discrepancies) - len(both)
    if both.empty:
        no_data_panel(ax, f"mirror pairs with both declarations ({one_sided} one-sided)")
        return
    reasons = both["reason"].fillna("unspecified").astype(str)
    common = list(reasons.value_counts().index[:5])
    reasons = reasons.where(reasons.isin(common), "other")
    for k, reason in enumerate([*common, "other"]):
        sel = both.loc[reasons == reason]
        if sel.empty:
            continue
        ax.scatter(
            sel["qty_t_exporter"],
            sel["qty_t_importer"],
            s=9,
            alpha=0.75,
            label=reason,
            color=OTHER_COLOURS[k % len(OTHER_COLOURS)] if reason != "other" else "#888888",
            edgecolor="0.2",
            linewidth=0.2,
            rasterized=True,  # ~1e5 mirror pairs at global scale: one raster layer in the SVG, not 1e5 paths
        )
    lo = float(min(both["qty_t_exporter"].min(), both["qty_t_importer"].min())) / 2
    hi = float(max(both["qty_t_exporter"].max(), both["qty_t_importer"].max())) * 2
    line = np.array([lo, hi])
    ax.plot(line, line, color="black", linewidth=0.7, label="1:1")
    ax.plot(
        line, line * factor, color="0.4", linestyle="--", linewidth=0.6, label=f"×{factor:g}, ÷{factor:g}"
    )
    ax.plot(line, line / factor, color="0.4", linestyle="--", linewidth=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("Exporter's declaration (t of goods)")
    ax.set_ylabel("Importer's declaration (t of goods)")
    if one_sided:
        ax.text(
            0.98,
            0.02,
            f"{one_sided} one-sided flow(s) not shown",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=5.5,
            color="0.3",
        )
    ax.legend(fontsize=5.5, loc="upper left")


# --------------------------------------------------------------------------------------------
# fig_stocks


def plot_stocks(stocks: pd.DataFrame, source: str, countries: Sequence[str] = ("USA", "CHN")) -> Figure:
    """Global in-use stock by product, and end-of-life outflows (future secondary supply) by country."""
    fig, axes = new_figure("stocks", 1, 2)
    _stock_panel(axes[0, 0], stocks)
    _outflow_panel(axes[0, 1], stocks, countries)
    add_source(fig, source)
    return fig


def _stock_panel(ax: Axes, stocks: pd.DataFrame) -> None:
    ax.set_title("Global in-use stock by product", loc="left")
    table = stocks.pivot_table(index="year", columns="product", values="stock_t", aggfunc="sum").fillna(0.0)
    if table.empty or float(table.to_numpy().sum()) <= 0:
        no_data_panel(ax, "in-use stocks")
        return
    table.index = table.index.astype(int)
    if len(table) == 1:
        table = pd.concat([table, table.set_axis(table.index + 1)])
    colours = [OTHER_COLOURS[k % len(OTHER_COLOURS)] for k in range(len(table.columns))]
    ax.stackplot(
        table.index,
        table.T.to_numpy(),
        labels=[str(c) for c in table.columns],
        colors=colours,
        edgecolor="white",
        linewidth=0.3,
    )
    ax.set_xlabel("Year")
    ax.set_ylabel(f"In-use stock ({UNIT})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=6, loc="upper left")


def _outflow_panel(ax: Axes, stocks: pd.DataFrame, countries: Sequence[str]) -> None:
    ax.set_title("End-of-life outflows", loc="left")
    if stocks.empty or stocks["outflow_t"].fillna(0).sum() <= 0 and stocks["inflow_t"].fillna(0).sum() <= 0:
        no_data_panel(ax, "end-of-life flows")
        return
    group = stocks["country"].astype(str).where(stocks["country"].isin(list(countries)), REST)
    table = stocks.assign(group=group).groupby(["year", "group"])[["inflow_t", "outflow_t"]].sum()
    for g in [*countries, REST]:
        if g not in table.index.get_level_values("group"):
            continue
        rows = table.xs(g, level="group")
        years = rows.index.astype(int)
        colour = COUNTRY_COLOURS.get(g, "#A0A0A0")
        ax.plot(
            years,
            rows["outflow_t"],
            color=colour,
            marker="o",
            markersize=2,
            label=f"{_country_label(g)} outflow",
        )
        ax.plot(
            years,
            rows["inflow_t"],
            color=colour,
            linestyle=":",
            linewidth=0.9,
            label=f"{_country_label(g)} inflow",
        )
    ax.set_xlabel("Year")
    ax.set_ylabel(f"Flow ({UNIT}/yr)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=5.5, loc="center left", bbox_to_anchor=(1.0, 0.5))


# --------------------------------------------------------------------------------------------
# render_*: read files, plot, write (what the rule scripts call)


def render_net_trade(balance: str, uncertainty: str, png: str, svg: str, source: str) -> None:
    fig = plot_net_trade(
        read_table(balance, BALANCE_PLOT_COLUMNS), read_table(uncertainty, UNCERTAINTY_COLUMNS), source
    )
    save_figure(fig, png, svg)


def in_years(years: Sequence[int | None]) -> ParquetFilters:
    """The rows of the figure's years (a figure of no year reads none)."""
    return [("year", "in", [int(y) for y in years if y is not None])]


def render_sankey(flows: str, balance: str, png: str, svg: str, source: str, years: Sequence[int]) -> None:
    fig = plot_sankey(
        read_part(flows, FLOW_COLUMNS, FLOWS_DRAWN, filters=in_years(years)),
        read_part(balance, BALANCE_PLOT_COLUMNS, filters=in_years(years)),
        years,
        source,
    )
    save_figure(fig, png, svg)


def render_bilateral(flows: str, png: str, svg: str, source: str, a: str = BILATERAL_PAIR[0],
                     b: str = BILATERAL_PAIR[1]) -> None:  # fmt: skip
    pair = [("exporter", "in", [a, b]), ("importer", "in", [a, b])]
    save_figure(plot_bilateral(read_part(flows, FLOW_COLUMNS, FLOWS_DRAWN, filters=pair), source, a, b), png, svg)


def render_origins(
    origins: str, png: str, svg: str, source: str, countries: Sequence[str], stage: str = ORIGINS_STAGE
) -> None:
    rows = [("country", "in", [str(c) for c in countries]), ("stage", "==", stage)]
    save_figure(plot_origins(read_part(origins, ORIGINS_COLUMNS, filters=rows), countries, source, stage), png, svg)


def render_network(
    flows: str, balance: str, png: str, svg: str, source: str, years: Sequence[int], max_nodes: int = 30
) -> None:
    fig = plot_network(
        read_part(flows, FLOW_COLUMNS, FLOWS_DRAWN, filters=in_years(years)),
        read_part(balance, BALANCE_PLOT_COLUMNS, filters=in_years(years)),
        years,
        source,
        max_nodes,
    )
    save_figure(fig, png, svg)


def render_sensitivity(
    oat: str, sobol: str, png: str, svg: str, source: str, indicator: str = "us_net_exports_t"
) -> None:
    fig = plot_sensitivity(read_table(oat, OAT_COLUMNS), read_table(sobol, SOBOL_COLUMNS), source, indicator)
    save_figure(fig, png, svg)


def render_quality(
    coverage: str, discrepancies: str, png: str, svg: str, source: str, factor: float = 2.0
) -> None:
    fig = plot_quality(
        read_table(coverage, COVERAGE_COLUMNS), read_table(discrepancies, DISCREPANCY_COLUMNS), source, factor
    )
    save_figure(fig, png, svg)


def render_stocks(stocks: str, png: str, svg: str, source: str) -> None:
    table = read_table(stocks, STOCKS_COLUMNS)
    if "use" in table.columns:  # dissipative uses build no stock and have no end-of-life flow
        table = table[table["use"] != "dissipative"]
    save_figure(plot_stocks(table, source), png, svg)


# --------------------------------------------------------------------------------------------
# fig_validation: modelled US trade under every mirror rule against USGS salient statistics

HEIGHTS["validation"] = 2.4  # per row of panels
VALIDATION_PANELS: tuple[tuple[str, str], ...] = (
    ("us_exports_total", "US exports, all forms"),
    ("us_imports_total", "US imports, all forms"),
    ("us_exports_ores_compounds", "US exports: ores + compounds (mining, sep.)"),
    ("us_imports_compounds", "US imports: compounds (separation)"),
    ("us_exports_metals_alloys", "US exports: metals + alloys (metal)"),
    ("us_imports_metals_alloys", "US imports: metals + alloys (metal)"),
)
RULE_STYLES: dict[str, tuple[str, str]] = {
    "importer_first": (OKABE_ITO["blue"], "-"), "exporter_first": (OKABE_ITO["vermillion"], "--"),
    "max": (OKABE_ITO["green"], ":"), "weighted_mean": (OKABE_ITO["purple"], "-."),
}  # fmt: skip
VALIDATION_PLOT_COLUMNS = ("year", "indicator", "mirror_rule", "model_t", "usgs_t", "usgs_edition")


def plot_validation(validation: pd.DataFrame, source: str) -> Figure:
    """One panel per trade item: a line per mirror rule (model) and USGS salient figures as
    markers; a panel without USGS figures says so instead of looking like a perfect fit."""
    nrows = math.ceil(len(VALIDATION_PANELS) / 2)
    fig, axes = new_figure("validation", nrows, 2, rows_scale=nrows, sharex=True)
    table = validation.copy()
    table["model_t"] = pd.to_numeric(table["model_t"], errors="coerce")
    table["usgs_t"] = pd.to_numeric(table["usgs_t"], errors="coerce")
    for ax, (indicator, title) in zip(axes.ravel(), VALIDATION_PANELS):
        ax.set_title(title, loc="left")
        rows = table[table["indicator"] == indicator]
        if rows.empty:
            no_data_panel(ax, title)
            continue
        for rule, (colour, style) in RULE_STYLES.items():
            line = rows[rows["mirror_rule"] == rule].sort_values("year")
            if not line.empty:
                ax.plot(line["year"].astype(int), line["model_t"], color=colour, linestyle=style, linewidth=1.1)
        usgs = rows.dropna(subset=["usgs_t"]).drop_duplicates("year").sort_values("year")
        if usgs.empty:
            ax.text(0.02, 0.9, "no USGS figure for these years", transform=ax.transAxes, fontsize=6,
                    color="0.35", style="italic")
        else:
            ax.plot(usgs["year"].astype(int), usgs["usgs_t"], linestyle="none", marker="o", markersize=3.2,
                    markerfacecolor="white", markeredgecolor="black", markeredgewidth=0.8)
        ax.set_ylabel(UNIT)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    handles: list[Patch | Line2D] = [
        Line2D([0], [0], color=c, linestyle=s, label=f"model, {rule}") for rule, (c, s) in RULE_STYLES.items()
    ]
    handles.append(Line2D([0], [0], linestyle="none", marker="o", markerfacecolor="white",
                          markeredgecolor="black", label="USGS salient statistic"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), fontsize=6.5)
    add_source(fig, source)
    return fig


def render_validation(validation: str, png: str, svg: str, source: str) -> None:
    save_figure(plot_validation(read_table(validation, VALIDATION_PLOT_COLUMNS), source), png, svg)


# --------------------------------------------------------------------------------------------
# fig_end_uses: final-stage consumption by end use, in-use stock range, cars and wind vs proxies

HEIGHTS["end_uses"] = 2.8
END_USE_STOCK_COLUMNS = (*STOCKS_COLUMNS, "use")
PLAUSIBILITY_PLOT_COLUMNS = ("check", "year", "model_t", "low_t", "central_t", "high_t")
STOCKS_RANGE_COLUMNS = ("year", "quantity", "central", "p05", "p95")
PROXY_STYLES: dict[str, tuple[str, str]] = {
    "cars_inflow": (OKABE_ITO["blue"], "electrified cars"),
    "wind_inflow": (OKABE_ITO["vermillion"], "wind generators"),
}


def plot_end_uses(stocks: pd.DataFrame, plausibility: pd.DataFrame, ranges: pd.DataFrame, source: str) -> Figure:
    """Global inflow by product (stock vs dissipative), in-use stock with its Monte Carlo range,
    and cars and wind inflows against the physical proxies."""
    fig, axes = new_figure("end_uses", 1, 3)
    _end_use_inflow_panel(axes[0, 0], stocks)
    _stock_range_panel(axes[0, 1], ranges)
    _proxy_panel(axes[0, 2], plausibility)
    add_source(fig, source)
    return fig


def _end_use_inflow_panel(ax: Axes, stocks: pd.DataFrame) -> None:
    ax.set_title("Final consumption by product", loc="left")
    if stocks.empty or float(stocks["inflow_t"].fillna(0).sum()) <= 0:
        no_data_panel(ax, "end-use inflows")
        return
    use = stocks.groupby("product")["use"].first().fillna("stock")
    table = stocks.pivot_table(index="year", columns="product", values="inflow_t", aggfunc="sum").fillna(0.0)
    table.index = table.index.astype(int)
    stock_products = [p for p in table.columns if use.get(p) != "dissipative"]
    lost = [p for p in table.columns if use.get(p) == "dissipative"]
    table = table[stock_products + lost]
    # Okabe-Ito first, then hatch-free tints: every stock product keeps a colour of its own
    palette = [*OTHER_COLOURS, OKABE_ITO["blue"], OKABE_ITO["vermillion"], "#8C564B", "#BCBD22", "#17BECF"]
    colours = [palette[k % len(palette)] for k in range(len(stock_products))]
    greys = [str(0.55 + 0.35 * k / max(len(lost) - 1, 1)) for k in range(len(lost))]
    ax.stackplot(table.index, table.T.to_numpy(), labels=[str(c) for c in table.columns],
                 colors=colours + greys, edgecolor="white", linewidth=0.3)
    ax.set_xlabel("Year")
    ax.set_ylabel(f"{UNIT} per year")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=4.5, loc="upper left", ncol=2)


def _stock_range_panel(ax: Axes, ranges: pd.DataFrame) -> None:
    ax.set_title("Global in-use stock (5-95%)", loc="left")
    rows = ranges[ranges["quantity"] == "in_use_stock_t"].sort_values("year")
    if rows.empty or float(rows["central"].fillna(0).sum()) <= 0:
        no_data_panel(ax, "in-use stock range")
        return
    years = rows["year"].astype(int)
    ax.fill_between(years, rows["p05"], rows["p95"], color=OKABE_ITO["blue"], alpha=0.25, linewidth=0)
    ax.plot(years, rows["central"], color=OKABE_ITO["blue"], linewidth=1.1)
    ax.set_xlabel("Year")
    ax.set_ylabel(UNIT)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))


def _proxy_panel(ax: Axes, plausibility: pd.DataFrame) -> None:
    ax.set_title("Cars, wind vs proxies", loc="left")
    rows = plausibility[plausibility["check"].isin(list(PROXY_STYLES))]
    if rows.empty:
        no_data_panel(ax, "proxy years")
        return
    for k, (check, (colour, label)) in enumerate(PROXY_STYLES.items()):
        sub = rows[rows["check"] == check].sort_values("year")
        if sub.empty:
            continue
        x = sub["year"].astype(int) + (k - 0.5) * 0.2
        ax.vlines(x, sub["low_t"], sub["high_t"], color=colour, linewidth=2.5, alpha=0.35)
        ax.plot(x, sub["central_t"], linestyle="none", marker="o", markersize=2.5, color=colour)
        ax.plot(sub["year"].astype(int), sub["model_t"], color=colour, linewidth=1.1, marker="s", markersize=2.5,
                label=f"{label}, model")
    ax.plot([], [], color="0.4", linewidth=2.5, alpha=0.35, label="proxy low-high (dot: central)")
    ax.set_xlabel("Year")
    ax.set_ylabel(f"{UNIT} per year")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=5, loc="upper left")


def render_end_uses(stocks: str, plausibility: str, ranges: str, png: str, svg: str, source: str) -> None:
    table = read_table(stocks, STOCKS_COLUMNS)
    if "use" not in table.columns:
        table["use"] = "stock"
    fig = plot_end_uses(
        table, read_table(plausibility, PLAUSIBILITY_PLOT_COLUMNS), read_table(ranges, STOCKS_RANGE_COLUMNS), source
    )
    save_figure(fig, png, svg)
