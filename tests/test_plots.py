"""Figures on SYNTHETIC frames (built here) and on empty inputs: every plot must give a non-blank PNG
of the planned pixel size, and the data helpers behind the plots must keep their invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib import image as mpimg

from reeflow.io import ReeflowError
from reeflow.report import plots
from reeflow.report.sankey import REST, STAGES, sankey_data

TEST_DPI = 40  # small renders keep the suite fast; the size contract is the same at 300 dpi
COUNTRIES = ["USA", "CHN", "AUS", "MMR", "JPN", "DEU", "MYS"]
YEARS = [2018, 2019, 2020, 2021]
SOURCE = "Source: SYNTHETIC test data; reeflow test"


# ------------------------------------------------------------------ synthetic frames


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240201)


@pytest.fixture(scope="module")
def balance(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for year in YEARS:
        for country in COUNTRIES:
            for stage in STAGES:
                prod, imp, exp = rng.uniform(0, 5000, 3)
                rows.append(
                    {
                        "year": year,
                        "country": country,
                        "stage": stage,
                        "production_t": prod,
                        "imports_t": imp,
                        "exports_t": exp,
                        "apparent_consumption_t": prod + imp - exp,
                        "net_exports_t": exp - imp,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def flows(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for year in YEARS:
        for stage in STAGES:
            for exporter in COUNTRIES:
                for importer in COUNTRIES:
                    if exporter != importer and rng.random() < 0.5:
                        rows.append(
                            {
                                "year": year,
                                "stage": stage,
                                "exporter": exporter,
                                "importer": importer,
                                "hs6": "284690",
                                "reo_t": float(rng.uniform(1, 3000)),
                                "basis": "importer",
                            }
                        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def origins(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for year in YEARS:
        for country in COUNTRIES:
            shares = rng.dirichlet(np.ones(len(COUNTRIES))) * 0.95  # 5 % left unattributed
            for origin, share in zip(COUNTRIES, shares):
                rows.append(
                    {"year": year, "stage": "final", "country": country, "origin": origin, "share": share}
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def stocks(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for country in COUNTRIES:
        for product in ("cars", "wind"):
            stock = 0.0
            for year in YEARS:
                inflow = float(rng.uniform(10, 500))
                outflow = 0.05 * stock
                stock += inflow - outflow
                rows.append(
                    {
                        "year": year,
                        "country": country,
                        "product": product,
                        "inflow_t": inflow,
                        "stock_t": stock,
                        "outflow_t": outflow,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def uncertainty(balance: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for country, indicator in plots.NET_EXPORT_INDICATOR.items():
        total = balance.loc[balance["country"] == country].groupby("year")["net_exports_t"].sum()
        for year, value in total.items():
            rows.append(
                {"year": year, "indicator": indicator, "p05": value - 2000, "p50": value, "p95": value + 2000}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def oat(rng: np.random.Generator) -> pd.DataFrame:
    params = ["yield_metal", "content_magnets", "mirror_rule", "lifetime_cars", "yield_separation"]
    return pd.DataFrame([
        {"indicator": "us_net_exports_t", "year": year, "parameter": p,
         "low_value": 1000 - rng.uniform(0, 500), "central_value": 1000.0,
         "high_value": 1000 + rng.uniform(0, 500)}
        for year in (2018, 2021) for p in params
    ])  # fmt: skip


@pytest.fixture(scope="module")
def sobol(rng: np.random.Generator) -> pd.DataFrame:
    params = ["yield_metal", "content_magnets", "mirror_rule", "lifetime_cars"]
    s1 = rng.dirichlet(np.ones(len(params))) * 0.8
    return pd.DataFrame(
        {
            "indicator": "us_net_exports_t",
            "parameter": params,
            "S1": s1,
            "S1_conf": 0.05,
            "ST": s1 + 0.05,
            "ST_conf": 0.04,
        }
    )


@pytest.fixture(scope="module")
def coverage(rng: np.random.Generator) -> pd.DataFrame:
    rows = [
        {
            "year": y,
            "reporter": r,
            "flow": f,
            "hs6": "284690",
            "n_records": int(rng.integers(1, 60)),
            "qty_t": float(rng.uniform(1, 1e4)),
            "value_usd": float(rng.uniform(1e3, 1e7)),
            "share_imputed": float(rng.uniform(0, 0.3)),
        }
        for y in YEARS
        for r in COUNTRIES[:4]
        for f in ("M", "X")
        if not (r == "MMR" and y < 2020)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def discrepancies(rng: np.random.Generator) -> pd.DataFrame:
    n = 40
    imp = rng.lognormal(5, 2, n)
    exp = imp * rng.lognormal(0, 1.2, n)
    exp[:3] = np.nan  # one-sided
    return pd.DataFrame(
        {
            "year": rng.choice(YEARS, n),
            "exporter": rng.choice(COUNTRIES, n),
            "importer": rng.choice(COUNTRIES, n),
            "hs6": "284690",
            "qty_t_importer": imp,
            "qty_t_exporter": exp,
            "ratio": np.maximum(imp, exp) / np.minimum(imp, exp),
            "reason": rng.choice(["cif_fob", "hs_revision", "reexport"], n),
        }
    )


def empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return plots.coerce_numeric(pd.DataFrame(columns=list(columns)))


# ------------------------------------------------------------------ image checks


def assert_png_ok(path: Path, kind: str, rows: int = 1) -> None:
    """Planned pixel size (no tight bbox), and a real picture: many colours, not one flat colour."""
    width_in, height_in = plots.figure_size(kind, rows)
    img = mpimg.imread(path)
    assert img.shape[:2] == (round(height_in * TEST_DPI), round(width_in * TEST_DPI))
    pixels = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    distinct = np.unique(pixels, axis=0)
    assert len(distinct) > 8, f"{path.name}: only {len(distinct)} colours"
    assert pixels.std(axis=0).max() > 5, f"{path.name}: flat image"
    background = (pixels == 255).all(axis=1).mean()
    assert background < 0.995, f"{path.name}: blank"


def render(fig, tmp_path: Path, name: str) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    plots.save_figure(fig, png, svg, dpi=TEST_DPI)
    assert svg.read_text().lstrip().startswith("<?xml")
    assert not list(tmp_path.glob("*.part")), "temporary file left behind"
    return png, svg


def colour_count(path: Path) -> int:
    img = mpimg.imread(path)
    return len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))


# ------------------------------------------------------------------ every figure, full and empty


def test_net_trade_full_and_empty(tmp_path: Path, balance: pd.DataFrame, uncertainty: pd.DataFrame) -> None:
    png, _ = render(plots.plot_net_trade(balance, uncertainty, SOURCE), tmp_path, "full")
    assert_png_ok(png, "net_trade")
    no_band, _ = render(
        plots.plot_net_trade(balance, empty(plots.UNCERTAINTY_COLUMNS), SOURCE), tmp_path, "noband"
    )
    assert_png_ok(no_band, "net_trade")
    nothing, _ = render(
        plots.plot_net_trade(empty(plots.BALANCE_PLOT_COLUMNS), empty(plots.UNCERTAINTY_COLUMNS), SOURCE),
        tmp_path,
        "empty",
    )
    assert_png_ok(nothing, "net_trade")
    assert colour_count(png) > colour_count(nothing)


def test_net_trade_band_is_drawn_only_when_available(
    balance: pd.DataFrame, uncertainty: pd.DataFrame
) -> None:
    with_band = plots.plot_net_trade(balance, uncertainty, SOURCE)
    without = plots.plot_net_trade(balance, empty(plots.UNCERTAINTY_COLUMNS), SOURCE)
    labels = [t.get_text() for t in with_band.legends[0].get_texts()]
    labels_without = [t.get_text() for t in without.legends[0].get_texts()]
    assert "total p05-p95" in labels and "total p05-p95" not in labels_without
    assert any(SOURCE == t.get_text() for t in with_band.texts)
    for fig in (with_band, without):
        plots.plt.close(fig)


@pytest.mark.parametrize("years", [[2018, 2021], [2021], []])
def test_sankey(tmp_path: Path, flows: pd.DataFrame, balance: pd.DataFrame, years: list[int]) -> None:
    png, _ = render(plots.plot_sankey(flows, balance, years, SOURCE), tmp_path, "sankey")
    assert_png_ok(png, "sankey", max(len(years), 1))


def test_sankey_year_without_data_says_so(flows: pd.DataFrame, balance: pd.DataFrame) -> None:
    fig = plots.plot_sankey(flows, balance, [1999], SOURCE)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("No data for 1999" in t for t in texts)
    plots.plt.close(fig)


def test_bilateral(tmp_path: Path, flows: pd.DataFrame) -> None:
    png, _ = render(plots.plot_bilateral(flows, SOURCE), tmp_path, "bilateral")
    assert_png_ok(png, "bilateral")
    one_way = flows.loc[~((flows["exporter"] == "CHN") & (flows["importer"] == "USA"))]
    fig = plots.plot_bilateral(one_way, SOURCE)
    assert any("No data for CHN → USA" in t.get_text() for t in fig.axes[1].texts)
    png, _ = render(fig, tmp_path, "oneway")
    assert_png_ok(png, "bilateral")
    png, _ = render(plots.plot_bilateral(empty(plots.FLOW_COLUMNS), SOURCE), tmp_path, "empty")
    assert_png_ok(png, "bilateral")


@pytest.mark.parametrize("countries", [["USA", "CHN", "JPN"], ["USA"], []])
def test_origins(tmp_path: Path, origins: pd.DataFrame, countries: list[str]) -> None:
    png, _ = render(plots.plot_origins(origins, countries, SOURCE), tmp_path, "origins")
    rows = max(1, -(-len(countries) // 2)) if len(countries) > 1 else 1
    assert_png_ok(png, "origins", rows)
    png, _ = render(plots.plot_origins(empty(plots.ORIGINS_COLUMNS), countries, SOURCE), tmp_path, "empty")
    assert_png_ok(png, "origins", rows)


def test_network(tmp_path: Path, flows: pd.DataFrame, balance: pd.DataFrame) -> None:
    png, _ = render(plots.plot_network(flows, balance, [2018, 2021], SOURCE), tmp_path, "network")
    assert_png_ok(png, "network")
    png, _ = render(
        plots.plot_network(empty(plots.FLOW_COLUMNS), empty(plots.BALANCE_PLOT_COLUMNS), [2021], SOURCE),
        tmp_path,
        "empty",
    )
    assert_png_ok(png, "network")


def test_sensitivity(tmp_path: Path, oat: pd.DataFrame, sobol: pd.DataFrame) -> None:
    png, _ = render(plots.plot_sensitivity(oat, sobol, SOURCE), tmp_path, "sens")
    assert_png_ok(png, "sensitivity")
    png, _ = render(
        plots.plot_sensitivity(empty(plots.OAT_COLUMNS), empty(plots.SOBOL_COLUMNS), SOURCE),
        tmp_path,
        "empty",
    )
    assert_png_ok(png, "sensitivity")


def test_quality(tmp_path: Path, coverage: pd.DataFrame, discrepancies: pd.DataFrame) -> None:
    fig = plots.plot_quality(coverage, discrepancies, SOURCE)
    assert any("3 one-sided" in t.get_text() for ax in fig.axes for t in ax.texts)
    png, _ = render(fig, tmp_path, "quality")
    assert_png_ok(png, "quality")
    png, _ = render(
        plots.plot_quality(empty(plots.COVERAGE_COLUMNS), empty(plots.DISCREPANCY_COLUMNS), SOURCE),
        tmp_path,
        "empty",
    )
    assert_png_ok(png, "quality")


def test_stocks(tmp_path: Path, stocks: pd.DataFrame) -> None:
    png, _ = render(plots.plot_stocks(stocks, SOURCE), tmp_path, "stocks")
    assert_png_ok(png, "stocks")
    png, _ = render(plots.plot_stocks(stocks.loc[stocks["year"] == 2021], SOURCE), tmp_path, "one_year")
    assert_png_ok(png, "stocks")
    png, _ = render(plots.plot_stocks(empty(plots.STOCKS_COLUMNS), SOURCE), tmp_path, "empty")
    assert_png_ok(png, "stocks")


def test_full_resolution_png_is_300_dpi_size(tmp_path: Path, stocks: pd.DataFrame) -> None:
    png = tmp_path / "stocks.png"
    plots.save_figure(plots.plot_stocks(stocks, SOURCE), png)
    width_in, height_in = plots.figure_size("stocks")
    assert mpimg.imread(png).shape[:2] == (round(height_in * 300), round(width_in * 300))


def test_every_numeric_axis_names_its_unit(
    balance: pd.DataFrame, uncertainty: pd.DataFrame, flows: pd.DataFrame, stocks: pd.DataFrame
) -> None:
    figures = [
        plots.plot_net_trade(balance, uncertainty, SOURCE),
        plots.plot_bilateral(flows, SOURCE),
        plots.plot_stocks(stocks, SOURCE),
    ]
    for fig in figures:
        for ax in fig.axes:
            if ax.get_visible() and ax.get_ylabel():
                assert "t REO-eq" in ax.get_ylabel(), ax.get_ylabel()
        plots.plt.close(fig)


# ------------------------------------------------------------------ render_* from files


def test_render_from_files_including_empty_csv(
    tmp_path: Path, balance: pd.DataFrame, uncertainty: pd.DataFrame
) -> None:
    balance_path = tmp_path / "balance.parquet"
    balance.to_parquet(balance_path)
    empty_csv = tmp_path / "headline_uncertainty.csv"
    empty_csv.write_text("")  # the sensitivity step may write nothing at all
    png, svg = tmp_path / "out" / "fig.png", tmp_path / "out" / "fig.svg"
    plots.render_net_trade(str(balance_path), str(empty_csv), str(png), str(svg), SOURCE)
    assert png.stat().st_size > 0 and svg.stat().st_size > 0


def test_read_table_names_missing_column(tmp_path: Path) -> None:
    bad = tmp_path / "oat.csv"
    pd.DataFrame({"indicator": ["x"], "year": [2020]}).to_csv(bad, index=False)
    with pytest.raises(ReeflowError, match=r"oat\.csv.*missing column\(s\) parameter, low_value"):
        plots.read_table(bad, plots.OAT_COLUMNS)
    with pytest.raises(ReeflowError, match="no such file"):
        plots.read_table(tmp_path / "absent.csv", plots.OAT_COLUMNS)


def test_read_table_coerces_numbers(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("year,indicator,p05,p50,p95\n2020,us_net_exports_t,1,2,NA\n")
    table = plots.read_table(path, plots.UNCERTAINTY_COLUMNS)
    assert table["p95"].isna().all() and table["p05"].dtype == float and int(table["year"].iloc[0]) == 2020


def test_svg_is_reproducible(tmp_path: Path, stocks: pd.DataFrame) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        plots.save_figure(plots.plot_stocks(stocks, SOURCE), folder / "x.png", folder / "x.svg", dpi=TEST_DPI)
    assert (first / "x.svg").read_bytes() == (second / "x.svg").read_bytes()


# ------------------------------------------------------------------ data helpers


def test_origin_shares_sum_to_one_with_unattributed(origins: pd.DataFrame) -> None:
    table = plots.origin_shares(origins, "USA", top=3)
    assert {"other", "unattributed"} <= set(table.columns)
    assert len(table.columns) == 5
    np.testing.assert_allclose(table.sum(axis=1), 1.0)


def test_coverage_matrix_leaves_gaps_empty(coverage: pd.DataFrame) -> None:
    table = plots.coverage_matrix(coverage)
    assert table.loc["MMR", 2018] != table.loc["MMR", 2018]  # NaN: MMR reported nothing before 2020
    assert table.loc["USA", 2020] == coverage.query("reporter == 'USA' and year == 2020")["n_records"].sum()


def test_network_keeps_us_and_china_and_limits_size(flows: pd.DataFrame, balance: pd.DataFrame) -> None:
    graph = plots.network_graph(flows, balance, 2020, max_nodes=3, max_edges=4)
    assert {"USA", "CHN"} <= set(graph.nodes)
    assert graph.number_of_nodes() == 3 and graph.number_of_edges() <= 4
    assert all(u != v for u, v in graph.edges)


def test_sobol_per_year_table_shows_one_year(oat: pd.DataFrame, sobol: pd.DataFrame) -> None:
    by_year = pd.concat([sobol.assign(year=2018), sobol.assign(year=2021, ST=sobol["ST"] / 2)])
    fig = plots.plot_sensitivity(oat, by_year, SOURCE)
    sobol_ax = fig.axes[1]
    assert sobol_ax.get_title(loc="left") == "Sobol indices, 2021"
    assert len(sobol_ax.get_yticklabels()) == len(sobol)  # one bar pair per parameter, not per year
    plots.plt.close(fig)


def test_choose_indicator_falls_back(oat: pd.DataFrame, sobol: pd.DataFrame) -> None:
    assert plots.choose_indicator(oat, sobol, "us_net_exports_t") == "us_net_exports_t"
    assert plots.choose_indicator(oat, sobol, "not_there") == "us_net_exports_t"
    assert plots.choose_indicator(oat.iloc[0:0], sobol.iloc[0:0], "x") is None


# ------------------------------------------------------------------ Sankey conservation (property)

country = st.sampled_from(["USA", "CHN", "AUS", "JPN", "MYS"])
flow_rows = st.lists(
    st.tuples(st.sampled_from(STAGES), country, country, st.floats(0, 1e5, allow_nan=False)), max_size=30
)
balance_rows = st.lists(
    st.tuples(
        st.sampled_from(STAGES),
        country,
        st.floats(0, 1e5, allow_nan=False),
        st.floats(0, 1e5, allow_nan=False),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_rows, balance_rows)
def test_sankey_links_conserve_trade_and_fit_in_nodes(f_rows: list, b_rows: list) -> None:  # type: ignore[type-arg]
    flows = pd.DataFrame(f_rows, columns=["stage", "exporter", "importer", "reo_t"]).assign(year=2020)
    balance = pd.DataFrame(b_rows, columns=["stage", "country", "production_t", "exports_t"]).assign(
        year=2020
    )
    data = sankey_data(flows, balance, 2020)
    cross_border = flows.loc[
        (flows["exporter"] != flows["importer"]) & (flows["stage"] != "final"), "reo_t"
    ].sum()
    home = (balance["production_t"] - balance["exports_t"]).clip(lower=0)
    home_total = home.loc[balance["stage"] != "final"].sum()
    assert data.links["value_t"].sum() == pytest.approx(cross_border + home_total, rel=1e-9, abs=1e-6)
    assert (data.links["value_t"] > 0).all()
    assert set(data.nodes["group"]) == {"CHN", "USA", REST}
    nodes = data.nodes.set_index(["stage", "group"])
    assert (nodes["value_t"] >= nodes["inflow_t"] - 1e-9).all()
    assert (nodes["value_t"] >= nodes["outflow_t"] - 1e-9).all()


# ------------------------------------------------------------------ sparse inputs (one row each)


def test_every_figure_copes_with_a_single_row(
    tmp_path: Path,
    balance: pd.DataFrame,
    flows: pd.DataFrame,
    origins: pd.DataFrame,
    stocks: pd.DataFrame,
    oat: pd.DataFrame,
    sobol: pd.DataFrame,
    coverage: pd.DataFrame,
    discrepancies: pd.DataFrame,
) -> None:
    one = {name: frame.iloc[[len(frame) // 2]] for name, frame in {
        "balance": balance, "flows": flows, "origins": origins, "stocks": stocks, "oat": oat, "sobol": sobol,
        "coverage": coverage, "discrepancies": discrepancies.dropna()}.items()}  # fmt: skip
    year = int(one["flows"]["year"].iloc[0])
    figures = {
        "net_trade": plots.plot_net_trade(one["balance"], empty(plots.UNCERTAINTY_COLUMNS), SOURCE),
        "sankey": plots.plot_sankey(one["flows"], one["balance"], [year], SOURCE),
        "bilateral": plots.plot_bilateral(one["flows"], SOURCE),
        "origins": plots.plot_origins(one["origins"], [str(one["origins"]["country"].iloc[0])], SOURCE),
        "network": plots.plot_network(one["flows"], one["balance"], [year], SOURCE),
        "sensitivity": plots.plot_sensitivity(one["oat"], one["sobol"], SOURCE),
        "quality": plots.plot_quality(one["coverage"], one["discrepancies"], SOURCE),
        "stocks": plots.plot_stocks(one["stocks"], SOURCE),
    }
    for kind, fig in figures.items():
        png, _ = render(fig, tmp_path, kind)
        assert_png_ok(png, kind)


def test_the_written_out_theme_is_seaborns() -> None:
    """The theme figure jobs apply without importing seaborn equals seaborn's own set_theme."""
    import matplotlib as mpl
    import seaborn as sns

    with mpl.rc_context():
        sns.set_theme(context="paper", style="whitegrid", palette=list(plots.OKABE_ITO.values()), font_scale=0.9)
        expected = {key: mpl.rcParams[key] for key in plots.seaborn_theme()}
    with mpl.rc_context():
        mpl.rcParams.update(plots.seaborn_theme())
        got = {key: mpl.rcParams[key] for key in expected}
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value), key
        else:
            assert got[key] == value, key


def _flows(year_type: type = int) -> pd.DataFrame:
    """SYNTHETIC flows of two years in the flows table's columns."""
    return pd.DataFrame({
        "year": [year_type(2020), year_type(2021), year_type(2021)], "stage": ["mining", "mining", "metal"],
        "exporter": ["USA", "USA", "CHN"], "importer": ["CHN", "CHN", "JPN"], "hs6": ["253090", "253090", "028053"],
        "reo_t": [1.0, 2.0, 3.0], "basis": ["reported", "reported", "mirror"],
    })  # fmt: skip


def test_a_figure_reads_only_its_years_and_columns_of_a_flows_file(tmp_path: Path) -> None:
    path = tmp_path / "flows.parquet"
    _flows().to_parquet(path, index=False)
    part = plots.read_part(path, plots.FLOW_COLUMNS, plots.FLOWS_DRAWN, filters=plots.in_years([2021]))
    whole = plots.read_table(path, plots.FLOW_COLUMNS)
    expected = whole[whole["year"] == 2021][list(plots.FLOWS_DRAWN)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected)


def test_a_file_the_partial_read_cannot_filter_is_read_whole_and_checked(tmp_path: Path) -> None:
    text_years = tmp_path / "text_years.parquet"
    _flows(str).to_parquet(text_years, index=False)  # years as text: the year filter does not apply
    assert len(plots.read_part(text_years, plots.FLOW_COLUMNS, plots.FLOWS_DRAWN, plots.in_years([2021]))) == 3
    incomplete = tmp_path / "incomplete.parquet"
    _flows().drop(columns="reo_t").to_parquet(incomplete, index=False)
    with pytest.raises(ReeflowError, match=r"incomplete\.parquet: missing column\(s\) reo_t"):
        plots.read_part(incomplete, plots.FLOW_COLUMNS, plots.FLOWS_DRAWN, plots.in_years([2021]))
    codes = tmp_path / "codes.csv"
    _flows().to_csv(codes, index=False)
    assert plots.read_part(codes, plots.FLOW_COLUMNS, ["hs6"])["hs6"].tolist() == ["253090", "253090", "028053"]
