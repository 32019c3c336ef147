"""Dynamic in-use stocks of REE in final products, inflow-driven, per country and product.

The model is ODYM's inflow-driven DynamicStockModel written directly on numpy: a cohort entering
use in year c is still in use in year m with probability sf[m - c] (the survival curve of its
lifetime distribution, age 0 in the inflow year, as in ODYM), so

    stock_by_cohort[m, c] = inflow[c] * sf[m - c]          (m >= c)
    outflow[m] = stock[m - 1] - stock[m] + inflow[m]        (mass balance)

The outflow is the end-of-life flow, i.e. the secondary-supply potential.

Inflows per country and product come from reeflow.mfa.end_uses: the final stage's consumption split
among applications and products by cited end-use shares, traded final goods (cars, wind) keeping
their measured net imports. Stock products (use ``stock``) build stocks with the lifetimes of
``mfa.lifetimes``; dissipative uses (polishing, FCC catalysts, glass, ...) are lost in the year of
use: stock 0, no end-of-life outflow, ``dissipated_t`` = inflow. This module is the cohort model
alone; reeflow.mfa.end_uses feeds it and runs the stocks rule.

Initial stock (``mfa.initial_stock``): ``zero`` (use starts in the first year) or
``steady_state``: every year before the first had the first year's inflow, for ever, so the
initial stock is inflow[0] * sum(sf) and those old cohorts keep leaving use during the study years.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from reeflow.io import ReeflowError

log = logging.getLogger(__name__)

STOCK_COLUMNS: list[str] = [
    "year",
    "country",
    "product",
    "inflow_t",
    "stock_t",
    "outflow_t",
    "use",
    "dissipated_t",
]
DISTRIBUTIONS: tuple[str, ...] = ("normal", "weibull", "lognormal", "fixed")
# Ages beyond this many mean lifetimes hold nothing worth counting (used for the steady state).
STEADY_STATE_HORIZON_MEANS = 20


def survival_curve(lifetime: Mapping[str, Any], ages: np.ndarray | int) -> np.ndarray:
    """Probability that an item is still in use at each integer age (0 = its inflow year).

    Parameters follow the config: ``mean`` for all; ``sd`` for normal and lognormal (the sd of the
    lifetime itself, converted to the log-space parameters as ODYM does); ``shape`` for weibull
    (scale derived so that the mean is ``mean``). ``fixed``: in use for exactly ``mean`` years."""
    ages = np.arange(ages) if np.isscalar(ages) else np.asarray(ages, dtype=float)
    dist = str(lifetime.get("distribution", ""))
    mean = float(lifetime.get("mean", float("nan")))
    if dist not in DISTRIBUTIONS:
        raise ReeflowError(f"config mfa.lifetimes: distribution {dist!r}; use one of {DISTRIBUTIONS}")
    if not mean > 0:
        raise ReeflowError(f"config mfa.lifetimes ({dist}): mean must be a positive number of years")
    if dist == "fixed":
        return (ages < mean).astype(float)
    if dist == "weibull":
        shape = _positive(lifetime, "shape", dist)
        scale = mean / math.gamma(1.0 + 1.0 / shape)
        return np.where(ages < 0, 1.0, np.exp(-((np.maximum(ages, 0.0) / scale) ** shape)))
    sd = _positive(lifetime, "sd", dist)
    if dist == "normal":
        return ndtr((mean - ages) / sd)
    sigma = math.sqrt(math.log(1.0 + (sd / mean) ** 2))
    mu = math.log(mean) - sigma**2 / 2.0
    with np.errstate(divide="ignore"):  # age 0: log 0 = -inf, survival 1
        log_ages = np.log(np.maximum(ages, 0.0))
    return np.where(ages <= 0, 1.0, ndtr((mu - log_ages) / sigma))


def _positive(lifetime: Mapping[str, Any], key: str, dist: str) -> float:
    value = lifetime.get(key)
    if value is None or not float(value) > 0:
        raise ReeflowError(f"config mfa.lifetimes ({dist}): `{key}` must be given as a positive number")
    return float(value)


def cohort_matrix(inflow: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """Stock by cohort, (years, cohorts): entry [m, c] = inflow[c] * sf[m - c] for m >= c, else 0."""
    inflow = np.asarray(inflow, dtype=float)
    n = len(inflow)
    age = np.arange(n)[:, None] - np.arange(n)[None, :]
    surv = np.where(age >= 0, np.asarray(sf, dtype=float)[np.clip(age, 0, None)], 0.0)
    return surv * inflow[None, :]


def stock_model(
    inflow: np.ndarray, sf: np.ndarray, initial: str = "zero", tail_sf: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stock and outflow per series and year from inflows, shape (n_series, n_years).

    ``sf``: survival at ages 0..n_years-1. ``initial``: ``zero`` or ``steady_state``; the latter
    needs ``tail_sf`` = survival at ages 0..H (H long enough for the curve to reach ~0). Returns
    (stock, outflow, initial_stock[n_series]), with stock[:, m] = initial + cumulative inflow -
    cumulative outflow."""
    inflow = np.atleast_2d(np.asarray(inflow, dtype=float))
    n_years = inflow.shape[1]
    sf = np.asarray(sf, dtype=float)[:n_years]
    age = np.arange(n_years)[:, None] - np.arange(n_years)[None, :]
    surv = np.where(age >= 0, sf[np.clip(age, 0, None)], 0.0)  # (year, cohort)
    stock = inflow @ surv.T
    if initial == "zero":
        initial_stock = np.zeros(inflow.shape[0])
        history = np.zeros_like(stock)
    elif initial == "steady_state":
        if tail_sf is None:
            raise ReeflowError("steady_state initial stock needs the survival curve's tail (tail_sf)")
        tail = np.asarray(tail_sf, dtype=float)
        # remaining[a] = sum of survival from age a on: stock held by all cohorts older than a - 1.
        remaining = np.concatenate([np.cumsum(tail[::-1])[::-1], [0.0]])
        initial_stock = inflow[:, 0] * remaining[0]
        ages_next = np.minimum(np.arange(1, n_years + 1), len(remaining) - 1)
        history = inflow[:, :1] * remaining[ages_next][None, :]
    else:
        raise ReeflowError(f"config mfa.initial_stock: {initial!r}; use zero or steady_state")
    stock = stock + history
    before = np.concatenate([initial_stock[:, None], stock[:, :-1]], axis=1)
    outflow = before - stock + inflow
    return stock, outflow, initial_stock


def horizon_for(lifetime: Mapping[str, Any]) -> int:
    """Ages to follow for the steady state: long enough for every distribution's tail to vanish."""
    mean = float(lifetime["mean"])
    spread = float(lifetime.get("sd") or 0.0)
    return int(math.ceil(STEADY_STATE_HORIZON_MEANS * mean + 20 * spread)) + 1


# ----------------------------------------------------------------------------------------------
# Inflows from the per-year balance and flows
# ----------------------------------------------------------------------------------------------
def stocks_table(
    inflows: pd.DataFrame,
    lifetimes: Mapping[str, Mapping[str, Any]],
    years: Sequence[int],
    initial: str = "zero",
) -> pd.DataFrame:
    """Run the stock model for every country and product: year, country, product, inflow_t,
    stock_t, outflow_t, use, dissipated_t over ``years`` (missing years count as zero inflow).
    Products whose ``use`` is ``dissipative`` build no stock: outflow 0, dissipated_t = inflow_t."""
    years = list(years)
    frames = []
    if "use" not in inflows.columns:
        inflows = inflows.assign(use="stock")
    for product, rows in inflows.groupby("product", sort=True):
        if (rows["use"] == "dissipative").all():
            wide = rows.pivot_table(
                index="country", columns="year", values="inflow_t", aggfunc="sum", fill_value=0.0
            ).reindex(columns=years, fill_value=0.0)
            n = len(wide)
            flat = wide.to_numpy().ravel()
            frames.append(
                pd.DataFrame(
                    {
                        "year": np.tile(years, n),
                        "country": np.repeat(wide.index.astype(str).to_numpy(), len(years)),
                        "product": str(product),
                        "inflow_t": flat,
                        "stock_t": 0.0,
                        "outflow_t": 0.0,
                        "use": "dissipative",
                        "dissipated_t": flat,
                    }
                )
            )
            continue
        if product not in lifetimes:
            raise ReeflowError(
                f"config mfa.lifetimes: no lifetime for product {product!r} (from the commodity table's "
                "product column); add mfa.lifetimes." + str(product)
            )
        lifetime = lifetimes[product]
        wide = rows.pivot_table(
            index="country", columns="year", values="inflow_t", aggfunc="sum", fill_value=0.0
        ).reindex(columns=years, fill_value=0.0)
        horizon = horizon_for(lifetime)
        tail = survival_curve(lifetime, max(horizon, len(years)))
        stock, outflow, _ = stock_model(wide.to_numpy(), tail[: len(years)], initial, tail_sf=tail)
        n = len(wide)
        frames.append(
            pd.DataFrame(
                {
                    "year": np.tile(years, n),
                    "country": np.repeat(wide.index.astype(str).to_numpy(), len(years)),
                    "product": str(product),
                    "inflow_t": wide.to_numpy().ravel(),
                    "stock_t": stock.ravel(),
                    "outflow_t": outflow.ravel(),
                    "use": "stock",
                    "dissipated_t": 0.0,
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in STOCK_COLUMNS}).astype(
            {"year": "int64", "country": "string", "product": "string", "use": "string"}
        )
    out = pd.concat(frames, ignore_index=True)
    out["country"] = out["country"].astype(str)
    out["product"] = out["product"].astype(str)
    return out[STOCK_COLUMNS].sort_values(["product", "country", "year"]).reset_index(drop=True)


def global_stock(
    inflow: np.ndarray, lifetime: Mapping[str, Any], n_years: int, initial: str = "zero"
) -> tuple[np.ndarray, np.ndarray]:
    """Stock and outflow of one inflow series (or several, rows) with one lifetime: the model is
    linear, so the global stock is the stock of the global inflow."""
    tail = survival_curve(lifetime, max(horizon_for(lifetime), n_years))
    stock, outflow, _ = stock_model(inflow, tail[:n_years], initial, tail_sf=tail)
    return stock, outflow
