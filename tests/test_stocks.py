"""Dynamic stock model against hand-worked cohort tables, mass conservation, inflow allocation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from reeflow.io import ReeflowError
from reeflow.mfa.stocks import (
    STOCK_COLUMNS,
    cohort_matrix,
    horizon_for,
    stock_model,
    stocks_table,
    survival_curve,
)


def test_fixed_lifetime_two_years_matches_hand_cohort_table() -> None:
    inflow = np.array([10.0, 20.0, 0.0, 5.0])
    sf = survival_curve({"distribution": "fixed", "mean": 2}, 4)
    np.testing.assert_array_equal(sf, [1, 1, 0, 0])
    # cohort table by hand: rows years, columns cohorts
    expected = np.array([[10, 0, 0, 0], [10, 20, 0, 0], [0, 20, 0, 0], [0, 0, 0, 5]], dtype=float)
    np.testing.assert_array_equal(cohort_matrix(inflow, sf), expected)
    stock, outflow, initial = stock_model(inflow, sf)
    np.testing.assert_allclose(stock[0], [10, 30, 20, 5])
    np.testing.assert_allclose(outflow[0], [0, 0, 10, 20])  # each cohort leaves two years on
    assert initial[0] == 0


def test_normal_lifetime_uses_the_known_survival_function() -> None:
    sf = survival_curve({"distribution": "normal", "mean": 2, "sd": 1}, 4)
    assert sf[2] == pytest.approx(0.5)  # half survive to the mean
    assert sf[1] == pytest.approx(0.841344746, rel=1e-8)
    stock, outflow, _ = stock_model(np.array([100.0, 0, 0, 0]), sf)
    np.testing.assert_allclose(stock[0], 100 * sf)
    np.testing.assert_allclose(outflow[0], 100 * np.diff(np.concatenate([[1.0], sf])) * -1)


@pytest.mark.parametrize(
    "lifetime",
    [
        {"distribution": "weibull", "mean": 15, "shape": 2.5},
        {"distribution": "lognormal", "mean": 12, "sd": 4},
        {"distribution": "normal", "mean": 20, "sd": 4},
    ],
)
def test_curves_have_the_configured_mean(lifetime: dict) -> None:
    ages = np.arange(400)
    sf = survival_curve(lifetime, ages)
    # mean lifetime = integral of survival; trapezoid on integer ages
    assert np.trapezoid(sf, ages) == pytest.approx(lifetime["mean"], rel=0.01)
    assert (np.diff(sf) <= 1e-15).all()


def test_lognormal_median_from_mean_and_sd() -> None:
    mean, sd = 10.0, 5.0
    sigma2 = np.log(1 + (sd / mean) ** 2)
    median = np.exp(np.log(mean) - sigma2 / 2)
    sf = survival_curve({"distribution": "lognormal", "mean": mean, "sd": sd}, np.array([median]))
    assert sf[0] == pytest.approx(0.5)
    assert stats.lognorm.mean(s=np.sqrt(sigma2), scale=median) == pytest.approx(mean)


def test_steady_state_keeps_a_constant_stock_under_constant_inflow() -> None:
    lifetime = {"distribution": "weibull", "mean": 8, "shape": 2.0}
    tail = survival_curve(lifetime, horizon_for(lifetime))
    stock, outflow, initial = stock_model(np.full((1, 6), 50.0), tail[:6], "steady_state", tail_sf=tail)
    np.testing.assert_allclose(stock[0], initial[0], rtol=1e-9)
    np.testing.assert_allclose(outflow[0], 50.0, rtol=1e-9)
    assert initial[0] == pytest.approx(50.0 * tail.sum())


def test_bad_lifetimes_name_the_setting() -> None:
    with pytest.raises(ReeflowError, match="shape"):
        survival_curve({"distribution": "weibull", "mean": 10}, 5)
    with pytest.raises(ReeflowError, match="distribution"):
        survival_curve({"distribution": "gamma", "mean": 10}, 5)
    with pytest.raises(ReeflowError, match="initial_stock"):
        stock_model(np.ones(3), np.ones(3), "guess")


lifetimes = st.sampled_from(
    [
        {"distribution": "fixed", "mean": 3},
        {"distribution": "normal", "mean": 5, "sd": 2},
        {"distribution": "weibull", "mean": 6, "shape": 1.5},
        {"distribution": "lognormal", "mean": 4, "sd": 3},
    ]
)


@settings(max_examples=50, deadline=None)
@given(
    inflow=st.lists(st.floats(0, 1e5), min_size=1, max_size=25),
    lifetime=lifetimes,
    initial=st.sampled_from(["zero", "steady_state"]),
)
def test_stock_is_initial_plus_cumulative_inflow_minus_outflow(
    inflow: list, lifetime: dict, initial: str
) -> None:
    flows = np.array([inflow])
    tail = survival_curve(lifetime, max(horizon_for(lifetime), len(inflow)))
    stock, outflow, start = stock_model(flows, tail[: len(inflow)], initial, tail_sf=tail)
    scale = 1.0 + flows.sum() * 100
    np.testing.assert_allclose(
        stock[0], start[0] + np.cumsum(flows[0]) - np.cumsum(outflow[0]), atol=1e-9 * scale
    )
    assert outflow.min() >= -1e-9 * scale and stock.min() >= -1e-9 * scale
    if initial == "zero":  # the cohort table gives the same stock
        np.testing.assert_allclose(cohort_matrix(flows[0], tail).sum(axis=1), stock[0], atol=1e-9 * scale)


def test_stocks_table_covers_every_year_and_needs_each_lifetime() -> None:
    inflows = pd.DataFrame(
        {"year": [2000, 2002], "country": ["A", "A"], "product": "cars", "inflow_t": [4.0, 6.0]}
    )
    table = stocks_table(inflows, {"cars": {"distribution": "fixed", "mean": 2}}, [2000, 2001, 2002])
    assert list(table.columns) == STOCK_COLUMNS
    np.testing.assert_allclose(table["stock_t"], [4, 4, 6])
    np.testing.assert_allclose(table["outflow_t"], [0, 0, 4])
    with pytest.raises(ReeflowError, match="lifetimes.*cars"):
        stocks_table(inflows, {}, [2000, 2001, 2002])


@pytest.mark.parametrize(
    ("lifetime", "reference"),
    [
        ({"distribution": "normal", "mean": 12.0, "sd": 4.0}, lambda a: stats.norm.sf(a, loc=12.0, scale=4.0)),
        (
            {"distribution": "weibull", "mean": 15.0, "shape": 2.2},
            lambda a: stats.weibull_min.sf(a, c=2.2, scale=15.0 / math.gamma(1 + 1 / 2.2)),
        ),
        (
            {"distribution": "lognormal", "mean": 10.0, "sd": 5.0},
            lambda a: stats.lognorm.sf(
                a, s=math.sqrt(math.log(1.25)), scale=math.exp(math.log(10.0) - math.log(1.25) / 2)
            ),
        ),
    ],
)
def test_survival_curves_equal_scipy_stats(lifetime: dict, reference) -> None:  # type: ignore[no-untyped-def]
    """The closed forms (no scipy.stats import in the jobs) are the textbook survival functions."""
    ages = np.array([-1.0, 0.0, 0.5, 1.0, 3.0, 10.0, 25.0, 80.0])
    np.testing.assert_allclose(survival_curve(lifetime, ages), reference(ages), rtol=1e-12, atol=1e-300)
