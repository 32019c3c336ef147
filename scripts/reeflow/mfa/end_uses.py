"""End uses: the final stage's consumption split among applications, then products (issue #12).

Three cited tables (low / central / high like config/commodities.csv):

- ``end_uses.shares`` (config/end_uses.csv): region, year, application, share_*: shares of a
  country's final-stage consumption by application (magnets, catalysts, polishing, ...). ``region``
  is ``world`` or an ISO3 code; a country with rows of its own uses them, every other the world's.
  Between anchor years shares are interpolated linearly, outside held at the nearest anchor.
- ``end_uses.products`` (config/end_use_products.csv): year (blank = every year), application,
  product, use (``stock`` or ``dissipative``), share_*: how each application splits into products.
  Stock products build in-use stocks with a lifetime (``mfa.lifetimes``); dissipative ones are lost
  in the year of use and never become end-of-life scrap.
- ``end_uses.proxies`` (config/end_use_proxies.csv): physical proxies of the cars and wind inflows
  for the plausibility check (wind additions x PM share x t NdFeB/MW x REO content; electrified-car
  sales x kg NdFeB per car x REO content).

Inflow of product p into use in country c and year y:

    T[c, p]  = measured net imports of traded final goods (commodity rows with a ``product``)
    R[c]     = C[c] - sum_p T[c, p]              (C = final-stage apparent consumption, >= 0)
    raw[c,p] = T[c, p] + R[c] * S[c, p]          (S = application share x product split)

Where a raw value is negative (a net exporter of cars beyond its share-based car production) it is
set to 0 and the country's other products are scaled so that sum_p inflow[c, p] = C[c] exactly: the
final stage's consumption is always the sum of product inflows plus dissipative uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reeflow.io import ReeflowError
from reeflow.settings import EndUseRangeSettings

log = logging.getLogger(__name__)

USES: tuple[str, ...] = ("stock", "dissipative")
WORLD = "world"
SHARE_COLUMNS: tuple[str, ...] = ("share_low", "share_central", "share_high")
SUM_TOLERANCE = 0.005
INFLOW_COLUMNS: list[str] = ["year", "country", "product", "use", "inflow_t"]
PROXY_QUANTITIES: tuple[str, ...] = (
    "wind_additions_gw",
    "wind_pm_share",
    "wind_ndfeb_t_per_mw",
    "ev_sales_million",
    "ev_ndfeb_kg_per_vehicle",
    "ndfeb_reo_content",
)
LAYOUT_FILES = {"shares": "end_uses.csv", "products": "end_use_products.csv", "proxies": "end_use_proxies.csv"}
PLAUSIBILITY_COLUMNS: list[str] = [
    "check",
    "year",
    "model_t",
    "low_t",
    "central_t",
    "high_t",
    "within_range",
    "note",
]


# ----------------------------------------------------------------------------------------------
# Loading and checking the tables
# ----------------------------------------------------------------------------------------------
def _read(path: str | os.PathLike[str], what: str, key: str, required: Sequence[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as err:
        raise ReeflowError(f"{what} {path}: file not found; set `end_uses.{key}` in the config") from err
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ReeflowError(f"{what} {path}: missing column(s) {missing}; see config/{LAYOUT_FILES[key]} for the layout")
    for col in table.columns:
        table[col] = table[col].str.strip()
    return table


def _numbers(path: str | os.PathLike[str], what: str, table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for col in columns:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & (table[col] != "") if col == "year" else values.isna()
        if bad.any():
            rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())]
            raise ReeflowError(
                f"{what} {path}: column {col} is not a number in row(s) {rows} (line numbers); fix the value"
            )
        table[col] = values
    return table


def _check_ranges(path: str | os.PathLike[str], what: str, table: pd.DataFrame, lo: str, mid: str, hi: str) -> None:
    bad = ~((table[lo] <= table[mid]) & (table[mid] <= table[hi]))
    if bad.any():
        rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())]
        raise ReeflowError(f"{what} {path}: rows {rows} need {lo} <= {mid} <= {hi}; fix the range")


def _check_sums(path: str | os.PathLike[str], what: str, table: pd.DataFrame, by: list[str], fix: str) -> None:
    sums = table.groupby(by, dropna=False)["share_central"].sum()
    off = sums[(sums - 1.0).abs() > SUM_TOLERANCE]
    if not off.empty:
        where = "; ".join(
            f"{dict(zip(by, k if isinstance(k, tuple) else (k,), strict=True))}: {v:.3f}" for k, v in off.items()
        )
        raise ReeflowError(f"{what} {path}: share_central does not sum to one for {where}; {fix}")


def _check_anchor_years(path: str | os.PathLike[str], what: str, table: pd.DataFrame, group: str, item: str) -> None:
    """Every item of a group must have a row at every anchor year of that group (else the
    interpolated shares would not sum to one)."""
    for name, rows in table.groupby(group, dropna=False):
        years = set(rows["year"].dropna())
        for it, sub in rows.groupby(item):
            have = set(sub["year"].dropna())
            if have != years:
                raise ReeflowError(
                    f"{what} {path}: {group} {name!r}, {item} {it!r} has rows for years {sorted(have)} but the "
                    f"{group} has anchor years {sorted(years)}; give every {item} a row at every anchor year"
                )


def load_end_use_shares(path: str | os.PathLike[str]) -> pd.DataFrame:
    """config/end_uses.csv, checked: numbers, low <= central <= high, central sums to one per region and year."""
    what = "end-use shares"
    table = _read(path, what, "shares", ["region", "year", "application", *SHARE_COLUMNS, "citation"])
    table = _numbers(path, what, table, ["year", *SHARE_COLUMNS])
    table["year"] = table["year"].astype(int)
    table.loc[table["region"] == "", "region"] = WORLD
    _check_ranges(path, what, table, *SHARE_COLUMNS)
    dup = table.duplicated(["region", "year", "application"])
    if dup.any():
        rows = [int(i) + 2 for i in np.flatnonzero(dup.to_numpy())]
        raise ReeflowError(f"{what} {path}: duplicate region/year/application in rows {rows}; keep one")
    if not (table["region"] == WORLD).any():
        raise ReeflowError(f"{what} {path}: no `world` rows; every country without rows of its own needs them")
    _check_sums(path, what, table, ["region", "year"], "make the applications of each region and year sum to 1")
    _check_anchor_years(path, what, table, "region", "application")
    return table


def load_end_use_products(path: str | os.PathLike[str], applications: Sequence[str] | None = None) -> pd.DataFrame:
    """config/end_use_products.csv, checked: uses, ranges, sums to one per application and year; every
    application of the shares table (``applications``) must be split into products."""
    what = "end-use products"
    table = _read(path, what, "products", ["year", "application", "product", "use", *SHARE_COLUMNS, "citation"])
    table = _numbers(path, what, table, ["year", *SHARE_COLUMNS])
    bad_use = ~table["use"].isin(USES)
    if bad_use.any():
        rows = [int(i) + 2 for i in np.flatnonzero(bad_use.to_numpy())]
        raise ReeflowError(f"{what} {path}: column use must be one of {USES} in row(s) {rows}")
    _check_ranges(path, what, table, *SHARE_COLUMNS)
    uses = table.groupby("product")["use"].nunique()
    if (uses > 1).any():
        raise ReeflowError(
            f"{what} {path}: product(s) {sorted(uses[uses > 1].index)} are both stock and dissipative; "
            "give each product one use"
        )
    years = table.groupby("application")["year"].apply(lambda s: s.isna().all() or s.notna().all())
    if not years.all():
        raise ReeflowError(
            f"{what} {path}: application(s) {sorted(years[~years].index)} mix rows with and without a "
            "year; give all of an application's rows a year or none"
        )
    _check_sums(
        path,
        what,
        table.fillna({"year": -1}),
        ["application", "year"],
        "make the products of each application and year sum to 1",
    )
    _check_anchor_years(path, what, table, "application", "product")
    if applications is not None:
        missing = sorted(set(applications) - set(table["application"]))
        if missing:
            raise ReeflowError(
                f"{what} {path}: application(s) {missing} of the end-use shares have no products; "
                "add rows that split them into products"
            )
    return table


def load_proxies(path: str | os.PathLike[str]) -> pd.DataFrame:
    what = "end-use proxies"
    table = _read(path, what, "proxies", ["quantity", "year", "low", "central", "high", "unit", "citation"])
    table = _numbers(path, what, table, ["year", "low", "central", "high"])
    unknown = ~table["quantity"].isin(PROXY_QUANTITIES)
    if unknown.any():
        rows = [int(i) + 2 for i in np.flatnonzero(unknown.to_numpy())]
        raise ReeflowError(f"{what} {path}: unknown quantity in row(s) {rows}; use one of {PROXY_QUANTITIES}")
    _check_ranges(path, what, table, "low", "central", "high")
    return table


def check_products(
    products: pd.DataFrame,
    traded: Sequence[str],
    lifetimes: Mapping[str, Any],
    products_path: str = "config/end_use_products.csv",
) -> None:
    """Traded final goods (commodity table's product column) must be stock products of the products
    table, and every stock product needs a lifetime."""
    use = products.groupby("product")["use"].first()
    unknown = sorted(set(traded) - set(use.index))
    if unknown:
        raise ReeflowError(
            f"commodity table column product names {unknown}, unknown to {products_path} (products "
            f"{sorted(use.index)}); rename the product or add it there as a stock product"
        )
    not_stock = sorted(p for p in traded if use[p] != "stock")
    if not_stock:
        raise ReeflowError(f"{products_path}: traded final goods {not_stock} must have use `stock`")
    missing = sorted(p for p in use.index if use[p] == "stock" and p not in lifetimes)
    if missing:
        raise ReeflowError(
            f"config mfa.lifetimes: no lifetime for stock product(s) {missing} of {products_path}; add "
            "mfa.lifetimes.<product>: {distribution: weibull, mean: ..., shape: ...} or mark the product dissipative"
        )


# ----------------------------------------------------------------------------------------------
# Shares by year
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Interpolation:
    """Linear interpolation of one table's values to the model years, as a fixed linear map.

    np.interp is linear in the values for fixed anchor years, so the map is worked out once per
    table and each Monte Carlo draw costs one matrix product instead of a pandas group-by."""

    keys: list[tuple[str, str]]  # sorted (group, item)
    weights: np.ndarray  # (keys, years, rows of the table)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.weights @ np.asarray(values, dtype=float)  # (keys, years)


def _interpolation(table: pd.DataFrame, group: str, item: str, years: Sequence[int]) -> _Interpolation:
    """Each (group, item): linear between anchor years, flat outside; rows without a year hold for
    every year (summed)."""
    at = np.asarray(years, dtype=float)
    anchor_years = table["year"].to_numpy(dtype=float)
    indices = table.groupby([group, item], sort=True).indices
    keys = sorted(indices)
    weights = np.zeros((len(keys), len(at), len(table)))
    for k, key in enumerate(keys):
        rows = np.asarray(indices[key])
        if np.isnan(anchor_years[rows]).all():
            weights[k, :, rows] = 1.0
            continue
        rows = rows[np.argsort(anchor_years[rows], kind="stable")]
        for j, row in enumerate(rows):
            weights[k, :, row] = np.interp(at, anchor_years[rows], np.eye(len(rows))[j])
    return _Interpolation([(str(g), str(i)) for g, i in keys], weights)


@dataclass
class ShareArrays:
    """Product shares per region and year, and the product order."""

    regions: list[str]
    products: list[str]
    uses: dict[str, str]
    shares: np.ndarray  # (years, regions, products)


@dataclass(frozen=True)
class ShareModel:
    """What turns share values into ShareArrays for one pair of tables and years: the layout and
    the interpolations, built once; ``arrays`` is then called with central or drawn values."""

    apps: _Interpolation
    split: _Interpolation
    regions: list[str]
    applications: list[str]
    products: list[str]
    uses: dict[str, str]
    n_years: int
    apps_at: tuple[list[int], list[int]]  # (region, application) position of each apps key
    split_at: tuple[list[int], list[int]]  # (application, product) position of each split key

    @classmethod
    def build(cls, shares: pd.DataFrame, products: pd.DataFrame, years: Sequence[int]) -> ShareModel:
        apps = _interpolation(shares, "region", "application", years)  # (region, app) x years
        split = _interpolation(products, "application", "product", years)
        app_names = sorted({a for _, a in apps.keys} | {a for a, _ in split.keys})
        product_names = sorted({p for _, p in split.keys})
        uses = products.groupby("product")["use"].first().to_dict()
        regions = sorted({r for r, _ in apps.keys})
        apps_at = ([regions.index(r) for r, _ in apps.keys], [app_names.index(a) for _, a in apps.keys])
        split_at = ([app_names.index(a) for a, _ in split.keys], [product_names.index(p) for _, p in split.keys])
        return cls(apps, split, regions, app_names, product_names, {p: uses[p] for p in product_names},
                   len(list(years)), apps_at, split_at)  # fmt: skip

    def arrays(self, share_values: np.ndarray, product_values: np.ndarray) -> ShareArrays:
        """Application share x product split per region and year; within each region and year the
        application shares (and each application's product split) are normalised to one."""
        a = np.zeros((self.n_years, len(self.regions), len(self.applications)))
        a[:, self.apps_at[0], self.apps_at[1]] = self.apps(share_values).T
        b = np.zeros((self.n_years, len(self.applications), len(self.products)))
        b[:, self.split_at[0], self.split_at[1]] = self.split(product_values).T
        asum = a.sum(axis=2, keepdims=True)
        a = a / np.where(asum > 0, asum, 1.0)
        bsum = b.sum(axis=2, keepdims=True)
        b = b / np.where(bsum > 0, bsum, 1.0)
        s = np.einsum("yra,yap->yrp", a, b)
        return ShareArrays(self.regions, self.products, dict(self.uses), s)


def share_arrays(
    shares: pd.DataFrame, products: pd.DataFrame, years: Sequence[int], value: str = "share_central"
) -> ShareArrays:
    """Application share x product split, per region and year (normalised, so drawn values work)."""
    model = ShareModel.build(shares, products, years)
    return model.arrays(shares[value].to_numpy(dtype=float), products[value].to_numpy(dtype=float))


def split_consumption(consumption: np.ndarray, traded: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, int]:
    """Inflow per (..., country, product) from consumption C (..., country), measured net imports of
    traded products T (..., country, product) and product shares S (..., country, product); see the
    module docstring. Returns (inflow, number of country-years whose raw split had a negative entry)."""
    c = np.maximum(np.asarray(consumption, dtype=float), 0.0)
    t = np.asarray(traded, dtype=float)
    rest = c - t.sum(axis=-1)
    raw = t + rest[..., None] * shares
    negative = (raw < 0).any(axis=-1)
    pos = np.maximum(raw, 0.0)
    total = pos.sum(axis=-1, keepdims=True)
    scaled = np.where(total > 0, pos * (c[..., None] / np.where(total > 0, total, 1.0)), 0.0)
    # A country with consumption but no positive entry cannot occur (sum raw = C > 0), but keep the
    # balance closed regardless: fall back to the shares.
    empty = (total[..., 0] <= 0) & (c > 0)
    scaled = np.where(empty[..., None], c[..., None] * shares, scaled)
    return scaled, int(negative.sum())


def traded_net_imports(
    flows: pd.DataFrame,
    product_of_code: Mapping[str, str],
    years: Sequence[int],
    countries: Sequence[str],
    products: Sequence[str],
) -> np.ndarray:
    """Measured net imports (t REO-eq) of traded final goods, (years, countries, products)."""
    out = np.zeros((len(years), len(countries), len(products)))
    if flows.empty:
        return out
    f = flows[flows["stage"] == "final"].assign(product=flows["hs6"].astype(str).map(product_of_code))
    f = f[f["product"].notna() & (f["product"] != "") & f["year"].isin(list(years))]
    yi = {y: k for k, y in enumerate(years)}
    ci = {c: k for k, c in enumerate(countries)}
    pi = {p: k for k, p in enumerate(products)}
    for side, sign in (("importer", 1.0), ("exporter", -1.0)):
        g = f.groupby(["year", side, "product"])["reo_t"].sum()
        for (y, c, p), v in g.items():
            if c in ci and p in pi:
                out[yi[int(y)], ci[c], pi[p]] += sign * float(v)
    return out


@dataclass
class FinalStage:
    years: list[int]
    countries: list[str]
    consumption: np.ndarray  # (years, countries)


def final_stage(balance: pd.DataFrame, years: Sequence[int]) -> FinalStage:
    final = balance[balance["stage"] == "final"]
    countries = sorted(final["country"].astype(str).unique())
    wide = final.pivot_table(index="year", columns="country", values="apparent_consumption_t", aggfunc="sum")
    wide = wide.reindex(index=list(years), columns=countries).fillna(0.0).clip(lower=0.0)
    return FinalStage(list(years), countries, wide.to_numpy())


def end_use_inflow_arrays(stage: FinalStage, traded: np.ndarray, arrays: ShareArrays) -> tuple[np.ndarray, int]:
    """(years, countries, products) inflows for one set of shares."""
    region_of = [
        arrays.regions.index(c) if c in arrays.regions else arrays.regions.index(WORLD) for c in stage.countries
    ]
    s = arrays.shares[:, region_of, :]
    return split_consumption(stage.consumption, traded, s)


def end_use_inflows(
    balance: pd.DataFrame,
    flows: pd.DataFrame,
    product_of_code: Mapping[str, str],
    shares: pd.DataFrame,
    products: pd.DataFrame,
    years: Sequence[int],
) -> pd.DataFrame:
    """year, country, product, use, inflow_t: the final stage's consumption by product (central shares)."""
    years = list(years)
    arrays = share_arrays(shares, products, years)
    stage = final_stage(balance, years)
    traded = traded_net_imports(flows, product_of_code, years, stage.countries, arrays.products)
    inflow, adjusted = end_use_inflow_arrays(stage, traded, arrays)
    if adjusted:
        log.warning(
            "end uses: %d country-years had net exports of a traded product above its share-based "
            "production; clipped at 0 and the other products scaled to keep the balance",
            adjusted,
        )
    ny, nc, npr = inflow.shape
    out = pd.DataFrame(
        {
            "year": np.repeat(years, nc * npr).astype("int64"),
            "country": np.tile(np.repeat(stage.countries, npr), ny),
            "product": np.tile(arrays.products, ny * nc),
            "inflow_t": inflow.ravel(),
        }
    )
    out["use"] = out["product"].map(arrays.uses)
    return out[INFLOW_COLUMNS]


# ----------------------------------------------------------------------------------------------
# Physical proxies and plausibility
# ----------------------------------------------------------------------------------------------
def _proxy_value(proxies: pd.DataFrame, quantity: str, year: int) -> tuple[float, float, float] | None:
    rows = proxies[proxies["quantity"] == quantity]
    exact = rows[rows["year"] == year]
    rows = exact if not exact.empty else rows[rows["year"].isna()]
    if rows.empty:
        return None
    r = rows.iloc[0]
    return float(r["low"]), float(r["central"]), float(r["high"])


def proxy_ranges(proxies: pd.DataFrame) -> pd.DataFrame:
    """check, year, low_t, central_t, high_t (t REO-eq per year) for cars and wind, for every year
    with activity data (low = product of the lows, high = product of the highs)."""
    rows = []
    specs = {
        "wind_inflow": (
            ("wind_additions_gw", 1000.0),
            ("wind_pm_share", 1.0),
            ("wind_ndfeb_t_per_mw", 1.0),
            ("ndfeb_reo_content", 1.0),
        ),
        "cars_inflow": (("ev_sales_million", 1e6), ("ev_ndfeb_kg_per_vehicle", 1e-3), ("ndfeb_reo_content", 1.0)),
    }
    for check, factors in specs.items():
        activity = factors[0][0]
        for year in sorted(proxies.loc[proxies["quantity"] == activity, "year"].dropna().astype(int).unique()):
            values = [_proxy_value(proxies, q, year) for q, _ in factors]
            if any(v is None for v in values):
                continue
            lo = mid = hi = 1.0
            for (_, scale), (a, b, c) in zip(factors, values, strict=True):  # type: ignore[misc]
                lo, mid, hi = lo * a * scale, mid * b * scale, hi * c * scale
            rows.append({"check": check, "year": int(year), "low_t": lo, "central_t": mid, "high_t": hi})
    table = pd.DataFrame(rows, columns=["check", "year", "low_t", "central_t", "high_t"])
    both = table.groupby("year").filter(lambda g: len(g) == 2)
    if not both.empty:
        summed = both.groupby("year")[["low_t", "central_t", "high_t"]].sum().reset_index()
        table = pd.concat([table, summed.assign(check="cars_wind_inflow")], ignore_index=True)
    return table


def plausibility_table(stocks: pd.DataFrame, balance: pd.DataFrame, proxies: pd.DataFrame) -> pd.DataFrame:
    """Model inflows of cars and wind against the physical proxies, and the global in-use stock of
    stock-building products against cumulative final-stage consumption (plus the initial stock)."""
    stocks = stocks.copy()
    if "use" not in stocks.columns:
        stocks["use"] = "stock"
    glob = stocks.groupby(["year", "product"])["inflow_t"].sum().unstack(fill_value=0.0)
    model = {
        "cars_inflow": glob.get("cars", pd.Series(0.0, index=glob.index)),
        "wind_inflow": glob.get("wind", pd.Series(0.0, index=glob.index)),
    }
    model["cars_wind_inflow"] = model["cars_inflow"] + model["wind_inflow"]
    rows = []
    modelled = set(balance.loc[balance["stage"] == "final", "year"].astype(int))
    for _, r in proxy_ranges(proxies).iterrows():
        series = model[r["check"]]
        if int(r["year"]) not in series.index or int(r["year"]) not in modelled:
            continue
        value = float(series.loc[int(r["year"])])
        rows.append(
            {
                **r.to_dict(),
                "model_t": value,
                "within_range": bool(r["low_t"] <= value <= r["high_t"]),
                "note": "global inflow to use (t REO-eq); proxy = activity x magnet intensity x REO content "
                "(config/end_use_proxies.csv)",
            }
        )
    stock_rows = (
        stocks[stocks["use"] == "stock"].groupby("year")[["inflow_t", "stock_t", "outflow_t"]].sum().sort_index()
    )
    final = (
        balance[balance["stage"] == "final"]
        .groupby("year")["apparent_consumption_t"]
        .apply(lambda s: s.clip(lower=0).sum())
    )
    if not stock_rows.empty:
        first = stock_rows.iloc[0]
        initial = float(first["stock_t"] + first["outflow_t"] - first["inflow_t"])
        cumulative = final.reindex(stock_rows.index).fillna(0.0).cumsum()
        for year, r in stock_rows.iterrows():
            high = float(cumulative.loc[year]) + initial
            rows.append(
                {
                    "check": "in_use_stock_vs_cumulative_consumption",
                    "year": int(year),
                    "model_t": float(r["stock_t"]),
                    "low_t": 0.0,
                    "central_t": float("nan"),
                    "high_t": high,
                    "within_range": bool(0.0 <= r["stock_t"] <= high * (1 + 1e-9)),
                    "note": "global in-use stock of stock-building products <= cumulative final-stage consumption "
                    "since the first year + initial stock",
                }
            )
    out = pd.DataFrame(rows, columns=PLAUSIBILITY_COLUMNS)
    out["year"] = out["year"].astype("int64")
    return out.sort_values(["check", "year"]).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# Sensitivity: Monte Carlo over end-use shares and lifetimes (results/sensitivity/stocks_range.csv)
# ----------------------------------------------------------------------------------------------
RANGE_COLUMNS: list[str] = ["year", "quantity", "central", "p05", "p50", "p95", "min", "max", "draws"]
RANGE_QUANTITIES: tuple[str, ...] = (
    "in_use_stock_t",
    "cars_wind_inflow_t",
    "cars_inflow_t",
    "wind_inflow_t",
    "end_of_life_t",
    "dissipated_t",
)


def _draw_shares(table: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Each share drawn from triangular(low, central, high), in table order; normalised later per
    group and year."""
    lo, mid, hi = (table[c].to_numpy(float) for c in SHARE_COLUMNS)
    return np.where(hi > lo, rng.triangular(lo, np.clip(mid, lo, hi), np.where(hi > lo, hi, lo + 1e-12)), mid)


def _draw_lifetimes(
    lifetimes: Mapping[str, Mapping[str, Any]], rng: np.random.Generator, spread: float
) -> dict[str, dict[str, Any]]:
    """Mean lifetime (and sd, keeping the coefficient of variation) scaled by triangular(1 -/+ spread)."""
    out = {}
    for product, lt in sorted(lifetimes.items()):
        factor = rng.triangular(1 - spread, 1.0, 1 + spread) if spread > 0 else 1.0
        lt = dict(lt)
        lt["mean"] = float(lt["mean"]) * factor
        if lt.get("sd"):
            lt["sd"] = float(lt["sd"]) * factor
        out[product] = lt
    return out


def _global_quantities(
    stage: FinalStage, traded: np.ndarray, arrays: ShareArrays, lifetimes: Mapping[str, Mapping[str, Any]], initial: str
) -> dict[str, np.ndarray]:
    from reeflow.mfa.stocks import global_stock

    inflow, _ = end_use_inflow_arrays(stage, traded, arrays)
    glob = inflow.sum(axis=1)  # (years, products)
    n = glob.shape[0]
    stock = np.zeros(n)
    eol = np.zeros(n)
    dissipated = np.zeros(n)
    for k, p in enumerate(arrays.products):
        if arrays.uses[p] == "dissipative":
            dissipated += glob[:, k]
            continue
        s, o = global_stock(glob[:, k], lifetimes[p], n, initial)
        stock += s[0]
        eol += o[0]

    def series(name: str) -> np.ndarray:
        return glob[:, arrays.products.index(name)] if name in arrays.products else np.zeros(n)

    return {
        "in_use_stock_t": stock,
        "cars_wind_inflow_t": series("cars") + series("wind"),
        "cars_inflow_t": series("cars"),
        "wind_inflow_t": series("wind"),
        "end_of_life_t": eol,
        "dissipated_t": dissipated,
    }


def stocks_range(
    balance: pd.DataFrame,
    flows: pd.DataFrame,
    product_of_code: Mapping[str, str],
    shares: pd.DataFrame,
    products: pd.DataFrame,
    lifetimes: Mapping[str, Mapping[str, Any]],
    years: Sequence[int],
    initial: str = "zero",
    draws: int = 200,
    seed: int = 0,
    lifetime_range: float = 0.2,
) -> pd.DataFrame:
    """Monte Carlo over end-use shares (every row triangular low/central/high, renormalised) and
    lifetimes (mean x triangular(1 -/+ lifetime_range)): percentiles of the global in-use stock,
    cars and wind inflows, end-of-life and dissipated flows per year; ``central`` = central shares
    and lifetimes. Cheap: the global stock of each product is the stock of its global inflow."""
    years = list(years)
    rng = np.random.default_rng(seed)
    stage = final_stage(balance, years)
    model = ShareModel.build(shares, products, years)
    base = model.arrays(shares["share_central"].to_numpy(float), products["share_central"].to_numpy(float))
    traded = traded_net_imports(flows, product_of_code, years, stage.countries, base.products)
    central = _global_quantities(stage, traded, base, lifetimes, initial)
    runs: dict[str, list[np.ndarray]] = {q: [] for q in RANGE_QUANTITIES}
    for _ in range(int(draws)):
        arrays = model.arrays(_draw_shares(shares, rng), _draw_shares(products, rng))
        result = _global_quantities(stage, traded, arrays, _draw_lifetimes(lifetimes, rng, lifetime_range), initial)
        for q in RANGE_QUANTITIES:
            runs[q].append(result[q])
    rows = []
    for q in RANGE_QUANTITIES:
        m = np.vstack(runs[q]) if runs[q] else np.full((1, len(years)), np.nan)
        pct = np.percentile(m, [5, 50, 95], axis=0)
        for k, y in enumerate(years):
            rows.append(
                {
                    "year": int(y),
                    "quantity": q,
                    "central": float(central[q][k]),
                    "p05": pct[0, k],
                    "p50": pct[1, k],
                    "p95": pct[2, k],
                    "min": float(m[:, k].min()),
                    "max": float(m[:, k].max()),
                    "draws": int(draws),
                }
            )
    return pd.DataFrame(rows, columns=RANGE_COLUMNS)


def load_stock_inputs(
    balance_path: str, flows_path: str, commodities_path: str, end_uses: Mapping[str, str], lifetimes: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], pd.DataFrame, pd.DataFrame]:
    """Balance, flows, the product of each traded code, end-use shares and products, checked together
    (the stocks rule and its Monte Carlo read the same inputs)."""
    from reeflow.commodities import load_commodities
    from reeflow.io import read_table

    balance = read_table(balance_path, what="balance")
    flows = read_table(flows_path, what="flows")
    commodities = load_commodities(commodities_path)
    product_of_code = {
        str(c): str(p) for c, p in zip(commodities["hs_code"], commodities["product"], strict=True) if str(p)
    }
    shares = load_end_use_shares(end_uses["shares"])
    products = load_end_use_products(end_uses["products"], sorted(shares["application"].unique()))
    check_products(products, sorted(set(product_of_code.values())), lifetimes, end_uses["products"])
    return balance, flows, product_of_code, shares, products


def run_stocks_range(
    balance_path: str,
    flows_path: str,
    commodities_path: str,
    end_uses: Mapping[str, Any],
    output: str,
    lifetimes: Mapping[str, Mapping[str, Any]],
    years: Sequence[int],
    initial: str,
    seed: int,
    settings: EndUseRangeSettings,
) -> None:
    """The stocks_range rule -> results/sensitivity/stocks_range.csv.

    ``end_uses``: the paths of the shares and products tables; ``settings``: the draws and lifetime
    range (EndUseRangeSettings.from_mapping(config end_uses))."""
    from reeflow.io import write_csv_atomic

    balance, flows, product_of_code, shares, products = load_stock_inputs(
        balance_path, flows_path, commodities_path, end_uses, lifetimes
    )
    table = stocks_range(
        balance,
        flows,
        product_of_code,
        shares,
        products,
        lifetimes,
        years,
        initial,
        draws=settings.draws,
        seed=int(seed),
        lifetime_range=settings.lifetime_range,
    )
    write_csv_atomic(table, output)
    log.info("stocks range: %d rows, %d draws", len(table), settings.draws)


def run_plausibility(stocks_path: str, balance_path: str, proxies_path: str, output: str) -> None:
    """The end_use_plausibility rule -> results/validation/end_use_plausibility.csv."""
    from reeflow.io import read_table, write_csv_atomic

    table = plausibility_table(
        read_table(stocks_path, what="stocks"),
        read_table(balance_path, what="balance"),
        load_proxies(proxies_path),
    )
    outside = table[~table["within_range"]]
    for _, r in outside.iterrows():
        log.warning(
            "plausibility: %s %d model %.0f t outside [%.0f, %.0f]",
            r["check"],
            r["year"],
            r["model_t"],
            r["low_t"],
            r["high_t"],
        )
    write_csv_atomic(table, output)


def run_stocks(
    balance_path: str,
    flows_path: str,
    commodities_path: str,
    end_uses: Mapping[str, str],
    output: str,
    lifetimes: Mapping[str, Mapping[str, Any]],
    years: Sequence[int],
    initial: str,
) -> None:
    """The stocks rule: final-stage consumption (balance), traded final goods (flows) and the end-use
    tables -> results/mfa/stocks.parquet."""
    from reeflow.io import write_parquet_atomic
    from reeflow.mfa.stocks import stocks_table

    balance, flows, product_of_code, shares, products = load_stock_inputs(
        balance_path, flows_path, commodities_path, end_uses, lifetimes
    )
    inflows = end_use_inflows(balance, flows, product_of_code, shares, products, years)
    table = stocks_table(inflows, lifetimes, years, initial)
    final = (
        balance[balance["stage"] == "final"]
        .groupby("year")["apparent_consumption_t"]
        .apply(lambda s: s.clip(lower=0).sum())
    )
    gap = (table.groupby("year")["inflow_t"].sum().reindex(final.index, fill_value=0.0) - final).abs().max()
    if gap > 1e-6 * max(1.0, float(final.abs().max())):
        raise ReeflowError(f"stocks: product inflows differ from final-stage consumption by {gap:.3g} t (a bug)")
    log.info(
        "stocks: %d rows, %d countries, products %s",
        len(table),
        table["country"].nunique(),
        sorted(table["product"].unique()),
    )
    write_parquet_atomic(table, output)
