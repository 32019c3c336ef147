"""End uses (issue #12): hand-built splits, stocks vs dissipative losses, the closed final-stage
balance, plausibility against proxies, the Monte Carlo range, and clear errors for bad tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reeflow.io import ReeflowError
from reeflow.mfa.end_uses import (
    ShareModel,
    check_products,
    end_use_inflows,
    load_end_use_products,
    load_end_use_shares,
    load_proxies,
    plausibility_table,
    proxy_ranges,
    share_arrays,
    split_consumption,
    stocks_range,
)
from reeflow.mfa.stocks import STOCK_COLUMNS, stocks_table

ROOT = Path(__file__).resolve().parents[1]
FIXED2 = {"distribution": "fixed", "mean": 2}
LIFETIMES = {"cars": FIXED2, "wind": FIXED2, "nimh": FIXED2}

SHARES = """region,year,application,share_low,share_central,share_high,citation
world,2000,magnets,0.4,0.5,0.6,test
world,2000,polishing,0.2,0.3,0.4,test
world,2000,batteries,0.1,0.2,0.3,test
world,2001,magnets,0.6,0.7,0.8,test
world,2001,polishing,0.1,0.1,0.2,test
world,2001,batteries,0.1,0.2,0.3,test
B,2000,polishing,1,1,1,test
"""
PRODUCTS = """year,application,product,use,share_low,share_central,share_high,citation
,magnets,cars,stock,0.5,0.6,0.7,test
,magnets,wind,stock,0.3,0.4,0.5,test
,polishing,polishing,dissipative,1,1,1,test
,batteries,nimh,stock,1,1,1,test
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def tables(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    shares = load_end_use_shares(_write(tmp_path, "shares.csv", SHARES))
    return shares, load_end_use_products(_write(tmp_path, "products.csv", PRODUCTS), shares["application"].unique())


def _balance(values: dict[tuple[int, str], float]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"year": y, "country": c, "stage": "final", "apparent_consumption_t": v} for (y, c), v in values.items()]
    )


NO_FLOWS = pd.DataFrame(columns=["year", "stage", "exporter", "importer", "hs6", "reo_t"])


def test_hand_built_split_interpolates_years_and_uses_regional_rows(tables) -> None:
    shares, products = tables
    balance = _balance({(2000, "A"): 100.0, (2001, "A"): 100.0, (2000, "B"): 10.0, (2002, "A"): 50.0})
    got = end_use_inflows(balance, NO_FLOWS, {}, shares, products, [2000, 2001, 2002])
    got = got.set_index(["year", "country", "product"])["inflow_t"]
    # 2000, A: magnets 50 -> cars 30, wind 20; polishing 30; nimh 20
    assert got[(2000, "A", "cars")] == pytest.approx(30.0) and got[(2000, "A", "wind")] == pytest.approx(20.0)
    assert got[(2000, "A", "polishing")] == pytest.approx(30.0) and got[(2000, "A", "nimh")] == pytest.approx(20.0)
    # 2001: magnets 70 -> cars 42; 2002 beyond the last anchor: held at 2001 shares
    assert got[(2001, "A", "cars")] == pytest.approx(42.0)
    assert got[(2002, "A", "cars")] == pytest.approx(21.0)
    # B has rows of its own: all polishing, in every year (its only anchor)
    assert got[(2000, "B", "polishing")] == pytest.approx(10.0) and got[(2000, "B", "cars")] == 0.0


def test_final_stage_balance_closes_with_measured_trade_and_negative_raw_values(tables) -> None:
    shares, products = tables
    balance = _balance({(2000, "A"): 100.0, (2000, "B"): 5.0, (2000, "C"): -3.0})
    flows = pd.DataFrame(
        {"year": 2000, "stage": "final", "exporter": ["X", "A"], "importer": ["A", "C"], "hs6": ["870380", "870380"],
         "reo_t": [12.0, 40.0]}
    )
    got = end_use_inflows(balance, flows, {"870380": "cars"}, shares, products, [2000])
    per_country = got.groupby("country")["inflow_t"].sum()
    assert per_country["A"] == pytest.approx(100.0) and per_country["B"] == pytest.approx(5.0)
    assert per_country["C"] == 0.0  # negative consumption does not enter use
    assert (got["inflow_t"] >= 0).all()
    # A imports 12 and exports 40 cars: net -28; rest 128 x cars share 0.3 = 38.4 -> 10.4
    a = got[got["country"] == "A"].set_index("product")["inflow_t"]
    assert a["cars"] == pytest.approx(10.4)
    # a net exporter beyond its share: clipped at zero, others scaled, sum still equals consumption
    inflow, adjusted = split_consumption(np.array([10.0]), np.array([[-20.0, 0.0]]), np.array([[0.5, 0.5]]))
    np.testing.assert_allclose(inflow, [[0.0, 10.0]])
    assert adjusted == 1


def test_stock_products_build_stock_and_dissipative_uses_are_lost_in_the_year_of_use(tables) -> None:
    shares, products = tables
    balance = _balance({(2000, "A"): 100.0, (2001, "A"): 0.0, (2002, "A"): 0.0})
    inflows = end_use_inflows(balance, NO_FLOWS, {}, shares, products, [2000, 2001, 2002])
    table = stocks_table(inflows, LIFETIMES, [2000, 2001, 2002])
    assert list(table.columns) == STOCK_COLUMNS
    pol = table[table["product"] == "polishing"].set_index("year")
    np.testing.assert_allclose(pol["stock_t"], 0.0)
    np.testing.assert_allclose(pol["outflow_t"], 0.0)
    np.testing.assert_allclose(pol["dissipated_t"], [30.0, 0.0, 0.0])
    cars = table[table["product"] == "cars"].set_index("year")
    np.testing.assert_allclose(cars["stock_t"], [30.0, 30.0, 0.0])  # fixed two-year lifetime
    np.testing.assert_allclose(cars["outflow_t"], [0.0, 0.0, 30.0])
    assert (table.loc[table["use"] == "stock", "dissipated_t"] == 0).all()
    # mass balance: inflow = stock change + end-of-life + dissipated, every product and year
    total = table.groupby("year")[["inflow_t", "outflow_t", "dissipated_t", "stock_t"]].sum()
    change = total["stock_t"].diff().fillna(total["stock_t"])
    np.testing.assert_allclose(total["inflow_t"], change + total["outflow_t"] + total["dissipated_t"], atol=1e-9)


def test_shares_that_do_not_sum_to_one_name_the_file_and_the_fix(tmp_path: Path) -> None:
    bad = SHARES.replace("world,2000,magnets,0.4,0.5,0.6", "world,2000,magnets,0.4,0.55,0.6")
    path = _write(tmp_path, "shares.csv", bad)
    fix = r"shares.csv.*does not sum to one.*'region': 'world', 'year': 2000.*sum to 1"
    with pytest.raises(ReeflowError, match=fix):
        load_end_use_shares(path)


def test_bad_rows_and_missing_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReeflowError, match=r"column share_high is not a number in row\(s\) \[2\]"):
        load_end_use_shares(_write(tmp_path, "a.csv", SHARES.replace("0.4,0.5,0.6", "0.4,0.5,x")))
    with pytest.raises(ReeflowError, match=r"rows \[2\] need share_low <= share_central <= share_high"):
        load_end_use_shares(_write(tmp_path, "b.csv", SHARES.replace("0.4,0.5,0.6", "0.6,0.5,0.6")))
    with pytest.raises(ReeflowError, match=r"missing column\(s\) \['citation'\]"):
        load_end_use_shares(_write(tmp_path, "c.csv", "region,year,application,share_low,share_central,share_high\n"))
    with pytest.raises(ReeflowError, match="magnets.*anchor years"):
        missing_anchor = SHARES.replace("world,2001,magnets,0.6,0.7,0.8,test\n", "").replace(
            "world,2001,polishing,0.1,0.1,0.2", "world,2001,polishing,0.7,0.8,0.9"
        )
        load_end_use_shares(_write(tmp_path, "d.csv", missing_anchor))
    with pytest.raises(ReeflowError, match=r"use must be one of .* row\(s\) \[3\]"):
        load_end_use_products(_write(tmp_path, "e.csv", PRODUCTS.replace("wind,stock", "wind,kept")))
    with pytest.raises(ReeflowError, match=r"application\(s\) \['batteries'\] of the end-use shares have no products"):
        load_end_use_products(_write(tmp_path, "f.csv", PRODUCTS.replace(",batteries,nimh,stock,1,1,1,test\n", "")),
                              ["magnets", "polishing", "batteries"])


def test_unknown_products_and_missing_lifetimes_are_clear_errors(tables) -> None:
    _, products = tables
    with pytest.raises(ReeflowError, match=r"product names \['trains'\], unknown to .*add it there as a stock product"):
        check_products(products, ["cars", "trains"], LIFETIMES)
    with pytest.raises(ReeflowError, match=r"traded final goods \['polishing'\] must have use `stock`"):
        check_products(products, ["polishing"], LIFETIMES)
    with pytest.raises(ReeflowError, match=r"mfa.lifetimes: no lifetime for stock product\(s\) \['nimh'\]"):
        check_products(products, ["cars"], {"cars": FIXED2, "wind": FIXED2})
    check_products(products, ["cars", "wind"], LIFETIMES)  # dissipative polishing needs no lifetime


def test_proxies_and_plausibility_flag_values_outside_the_range(tmp_path: Path) -> None:
    proxies = load_proxies(_write(tmp_path, "p.csv", """quantity,year,low,central,high,unit,citation
wind_additions_gw,2000,10,10,10,GW,t
wind_pm_share,,0.5,0.5,0.5,f,t
wind_ndfeb_t_per_mw,,1,1,1,t,t
ev_sales_million,2000,1,2,3,M,t
ev_ndfeb_kg_per_vehicle,,1,1,1,kg,t
ndfeb_reo_content,,0.5,0.5,0.5,f,t
"""))
    ranges = proxy_ranges(proxies).set_index("check")
    assert ranges.loc["wind_inflow", "central_t"] == pytest.approx(10 * 1000 * 0.5 * 1 * 0.5)  # 2500 t
    assert ranges.loc["cars_inflow", "low_t"] == pytest.approx(500.0)
    assert ranges.loc["cars_inflow", "high_t"] == pytest.approx(1500.0)
    stocks = pd.DataFrame({"year": 2000, "country": "A", "product": ["cars", "wind", "polishing"],
                           "inflow_t": [1000.0, 9000.0, 5.0], "stock_t": [1000.0, 9000.0, 0.0],
                           "outflow_t": 0.0, "use": ["stock", "stock", "dissipative"], "dissipated_t": [0, 0, 5.0]})
    table = plausibility_table(stocks, _balance({(2000, "A"): 10005.0}), proxies).set_index("check")
    assert bool(table.loc["cars_inflow", "within_range"]) and not bool(table.loc["wind_inflow", "within_range"])
    stock = table.loc["in_use_stock_vs_cumulative_consumption"]
    assert stock["model_t"] == pytest.approx(10000.0) and bool(stock["within_range"])


def test_monte_carlo_range_brackets_the_central_run_and_is_reproducible(tables) -> None:
    shares, products = tables
    balance = _balance({(y, "A"): 100.0 for y in (2000, 2001, 2002)})
    args = (balance, NO_FLOWS, {}, shares, products, LIFETIMES, [2000, 2001, 2002])
    one = stocks_range(*args, draws=40, seed=3, lifetime_range=0.0)
    two = stocks_range(*args, draws=40, seed=3, lifetime_range=0.0)
    pd.testing.assert_frame_equal(one, two)
    row = one[(one["year"] == 2001) & (one["quantity"] == "cars_wind_inflow_t")].iloc[0]
    assert row["central"] == pytest.approx(70.0)
    assert row["min"] <= row["p05"] <= row["p50"] <= row["p95"] <= row["max"]
    assert row["min"] < row["central"] < row["max"]
    stock = one[(one["year"] == 2000) & (one["quantity"] == "in_use_stock_t")].iloc[0]
    assert stock["central"] == pytest.approx(70.0)  # cars 30 + wind 20 + nimh 20; polishing 30 lost


def test_repository_tables_load_and_close() -> None:
    shares = load_end_use_shares(ROOT / "config" / "end_uses.csv")
    products = load_end_use_products(ROOT / "config" / "end_use_products.csv", shares["application"].unique())
    assert {"cars", "wind"} <= set(products["product"])
    assert len(proxy_ranges(load_proxies(ROOT / "config" / "end_use_proxies.csv"))) > 0
    for name in ("end_uses.csv", "end_use_products.csv", "end_use_proxies.csv"):
        assert (ROOT / ".test" / "config" / name).read_text() == (ROOT / "config" / name).read_text()


def test_share_arrays_interpolate_each_group_linearly_and_normalise() -> None:
    """SYNTHETIC tables: anchors out of order, a yearless row, two regions; drawn values go through
    the same precomputed map as the central ones."""
    shares = pd.DataFrame({
        "region": ["world", "world", "world", "usa", "usa"],
        "application": ["magnets", "magnets", "catalysts", "magnets", "catalysts"],
        "year": pd.array([2010, 2000, pd.NA, 2005, 2005], dtype="Int64"),
        "share_central": [0.6, 0.2, 0.5, 0.3, 0.7],
    })  # fmt: skip
    products = pd.DataFrame({
        "application": ["magnets", "magnets", "catalysts"], "product": ["cars", "wind", "catalysts"],
        "year": pd.array([pd.NA, pd.NA, pd.NA], dtype="Int64"), "share_central": [0.25, 0.75, 1.0],
        "use": ["stock", "stock", "dissipative"],
    })  # fmt: skip
    years = [1995, 2000, 2005, 2010, 2015]
    arrays = share_arrays(shares, products, years)
    world = arrays.regions.index("world")
    magnets = np.interp(years, [2000, 2010], [0.2, 0.6])
    app_share = magnets / (magnets + 0.5)
    np.testing.assert_allclose(arrays.shares[:, world, arrays.products.index("cars")], app_share * 0.25)
    np.testing.assert_allclose(arrays.shares[:, world, arrays.products.index("catalysts")], 1 - app_share)
    np.testing.assert_allclose(arrays.shares.sum(axis=2), 1.0)
    model = ShareModel.build(shares, products, years)
    doubled = model.arrays(shares["share_central"].to_numpy() * 2, products["share_central"].to_numpy())
    np.testing.assert_allclose(doubled.shares, arrays.shares)  # normalised: scale-free
    other = model.arrays(np.array([0.6, 0.2, 0.5, 0.3, 0.1]), products["share_central"].to_numpy())
    usa = other.regions.index("usa")
    np.testing.assert_allclose(other.shares[:, usa, other.products.index("catalysts")], 0.1 / 0.4)
