"""Dependence indicators per year: net exports, partners, import reliance, concentration, networks.

All indicators are computed from one year's balance and flows tables (t REO-eq) and returned as a
long table (year, country, stage, indicator, partner, value); ``partner`` is empty except for
bilateral indicators. Stage ``all`` sums REO-eq over the five stages: each stage's trade counted
once, so it measures total REE handled, not a physical stock of REE (the same atoms appear at
several stages).

Definitions:
* ``net_exports_t`` = exports - imports; ``net_exporter`` = 1 if net exports > 0 else 0.
* ``net_import_reliance`` = (imports - exports) / apparent consumption (USGS), NaN where the
  consumption is 0 (or negative under ``keep``: the ratio has no meaning there).
* ``import_hhi`` = sum over suppliers of (100 x share of imports)^2, 0..10000 (NaN without imports).
* ``export_destination_share/_rank``, ``import_supplier_share/_rank``: the top partners (ranks by
  tonnes, 1 = largest; ties share the best rank).
* ``bilateral_dependence``: imports from the partner / own supply (production + imports).
* ``interdependence`` (country = A, partner = B): geometric mean of A's dependence on B and B's on
  A, sqrt(d_AB x d_BA), each = imports from the other / own supply. It is 0 when either side does
  not depend on the other and 1 only if each supplies all of the other's supply: it rises only
  when the dependence is mutual. For the US-China headline: A = USA, B = CHN, stage ``all``.
* Trade-network metrics per stage (networkx): ``in_strength_t``, ``out_strength_t``, and
  ``betweenness`` with edge distance 1 / flow (big flows are short paths), normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reeflow.commodities import STAGES
from reeflow.schemas import HEADLINE_COLUMNS, empty_table

ALL = "all"
INDICATOR_DTYPES: dict[str, str] = {"year": "int64", "country": "string", "stage": "string", "indicator": "string",
                                    "partner": "string", "value": "float64"}
INDICATOR_COLUMNS: list[str] = list(INDICATOR_DTYPES)
USA, CHN = "USA", "CHN"
# The numeric headline indicators, computed by headline_indicators for the central case and every draw.
HEADLINE_INDICATORS: tuple[str, ...] = (
    "us_net_exports_t",
    "china_net_exports_t",
    "china_share_of_us_exports",
    "us_china_interdependence",
    "us_net_exporter",
)


def _long(
    frame: pd.DataFrame, indicator: str, value: str, year: int, partner: str | None = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": year,
            "country": frame["country"].astype(str).to_numpy(),
            "stage": frame["stage"].astype(str).to_numpy(),
            "indicator": indicator,
            "partner": frame[partner].astype(str).to_numpy() if partner else "",
            "value": frame[value].to_numpy(dtype=float),
        }
    )


def with_all_stages(balance: pd.DataFrame) -> pd.DataFrame:
    """The balance plus a stage ``all`` row per country (sums over stages)."""
    cols = ["production_t", "imports_t", "exports_t", "apparent_consumption_t", "net_exports_t"]
    total = balance.groupby("country", as_index=False)[cols].sum().assign(stage=ALL)
    return pd.concat([balance[["country", "stage", *cols]], total], ignore_index=True)


def bilateral(flows: pd.DataFrame) -> pd.DataFrame:
    """Flows summed over HS codes per stage and pair, plus stage ``all``."""
    pairs = flows.groupby(["stage", "exporter", "importer"], as_index=False)["reo_t"].sum()
    total = pairs.groupby(["exporter", "importer"], as_index=False)["reo_t"].sum().assign(stage=ALL)
    out = pd.concat([pairs, total], ignore_index=True)
    return out[out["reo_t"] > 0].reset_index(drop=True)


def balance_indicators(balance: pd.DataFrame, year: int) -> pd.DataFrame:
    """Net exports, net-exporter status and net import reliance per country and stage (and all)."""
    b = with_all_stages(balance)
    consumption = b["apparent_consumption_t"]
    reliance = (b["imports_t"] - b["exports_t"]) / consumption.where(consumption > 0)
    b = b.assign(net_exporter=(b["net_exports_t"] > 0).astype(float), net_import_reliance=reliance)
    return pd.concat(
        [
            _long(b, "net_exports_t", "net_exports_t", year),
            _long(b, "net_exporter", "net_exporter", year),
            _long(b, "net_import_reliance", "net_import_reliance", year),
        ],
        ignore_index=True,
    )


def partner_shares(pairs: pd.DataFrame, side: str) -> pd.DataFrame:
    """Each country's partners with share and rank: side ``exports`` (by destination) or
    ``imports`` (by supplier). Columns country, stage, partner, reo_t, share, rank."""
    country, partner = ("exporter", "importer") if side == "exports" else ("importer", "exporter")
    out = pairs.rename(columns={country: "country", partner: "partner"})[
        ["stage", "country", "partner", "reo_t"]
    ]
    total = out.groupby(["stage", "country"])["reo_t"].transform("sum")
    out = out.assign(share=out["reo_t"] / total)
    out["rank"] = out.groupby(["stage", "country"])["reo_t"].rank(ascending=False, method="min")
    return out.sort_values(["stage", "country", "rank", "partner"]).reset_index(drop=True)


def partner_indicators(pairs: pd.DataFrame, year: int, top: int) -> pd.DataFrame:
    """Top ``top`` export destinations and import suppliers, with shares and ranks, and HHI."""
    frames = []
    for side, name in (("exports", "export_destination"), ("imports", "import_supplier")):
        shares = partner_shares(pairs, side)
        best = shares[shares["rank"] <= top]
        frames += [
            _long(best, f"{name}_share", "share", year, "partner"),
            _long(best, f"{name}_rank", "rank", year, "partner"),
        ]
    imports = partner_shares(pairs, "imports")
    hhi = (
        imports.assign(sq=(100 * imports["share"]) ** 2)
        .groupby(["stage", "country"], as_index=False)["sq"]
        .sum()
    )
    frames.append(_long(hhi, "import_hhi", "sq", year))
    return pd.concat(frames, ignore_index=True)


def dependence(pairs: pd.DataFrame, balance: pd.DataFrame) -> pd.DataFrame:
    """Bilateral dependence d[e -> i] = flow / supply of the importer, per stage and all.
    Columns stage, country (importer), partner (exporter), reo_t, supply_t, value."""
    b = with_all_stages(balance)
    supply = b.assign(supply_t=b["production_t"] + b["imports_t"])[["country", "stage", "supply_t"]]
    out = pairs.rename(columns={"importer": "country", "exporter": "partner"}).merge(
        supply, on=["country", "stage"], how="left"
    )
    return out.assign(value=out["reo_t"] / out["supply_t"].where(out["supply_t"] > 0))


def interdependence(dep: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """sqrt(d[b -> a] x d[a -> b]) per stage (module docstring); 0 where either link is absent."""
    stages = [*STAGES, ALL]
    d = dep.set_index(["stage", "country", "partner"])["value"]
    rows = []
    for stage in stages:
        d_ab = float(d.get((stage, a, b), 0.0))
        d_ba = float(d.get((stage, b, a), 0.0))
        rows.append(
            {
                "country": a,
                "stage": stage,
                "partner": b,
                "value": float(np.sqrt(np.nan_to_num(d_ab) * np.nan_to_num(d_ba))),
            }
        )
    return pd.DataFrame(rows)


def shortest_path_betweenness(exporters: np.ndarray, importers: np.ndarray, distance: np.ndarray, n: int
                              ) -> np.ndarray:
    """Normalised directed betweenness on distance-weighted shortest paths, with scipy's Dijkstra.

    networkx's pure-Python Brandes algorithm took ~18 s a year on a 250-country network; this
    walks the predecessor tree of each source in vectorised steps instead (~0.1 s). With real-valued
    distances (1/flow) shortest paths are unique, so counting the pairs whose path crosses a node is
    Brandes' result; on exact ties one path is credited instead of the split."""
    if n < 3:
        return np.zeros(n)
    # imported here: the Monte Carlo and the headline use this module without the network measures
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    graph = sp.csr_matrix((distance, (exporters, importers)), shape=(n, n))
    _, pred = dijkstra(graph, directed=True, return_predecessors=True)
    # every source's predecessor tree walked one step at a time, all sources at once: each step
    # credits the node that the (source, target) pairs still on their way back pass through
    between = np.zeros(n)
    sources = np.arange(n)[:, None]
    node = pred.copy()
    active = (node >= 0) & (node != sources)
    while active.any():
        between += np.bincount(node[active], minlength=n)
        node = np.where(active, pred[sources, np.where(active, node, 0)], -1)
        active = (node >= 0) & (node != sources)
    return between / ((n - 1) * (n - 2))


def network_indicators(pairs: pd.DataFrame, year: int) -> pd.DataFrame:
    """In/out strength and betweenness (distance 1/flow) per stage of the trade network."""
    frames = []
    for stage, rows in pairs[pairs["stage"] != ALL].groupby("stage", sort=True):
        rows = rows[rows["reo_t"] > 0]
        if rows.empty:
            continue
        # sorted codes of both ends at once (a Python loop over pyarrow strings is slow at global scale)
        codes, uniques = pd.factorize(pd.concat([rows["exporter"], rows["importer"]]).astype(str), sort=True)
        nodes = np.asarray(uniques, dtype=str)
        e, i = codes[: len(rows)], codes[len(rows) :]
        t = rows["reo_t"].to_numpy(float)
        metrics = pd.DataFrame(
            {
                "country": nodes,
                "stage": stage,
                "in_strength_t": np.bincount(i, weights=t, minlength=len(nodes)),
                "out_strength_t": np.bincount(e, weights=t, minlength=len(nodes)),
                "betweenness": shortest_path_betweenness(e, i, 1.0 / t, len(nodes)),
            }
        )
        frames += [
            _long(metrics, name, name, year) for name in ("in_strength_t", "out_strength_t", "betweenness")
        ]
    return pd.concat(frames, ignore_index=True) if frames else empty_indicators()


def year_indicators(
    balance: pd.DataFrame,
    flows: pd.DataFrame,
    year: int,
    top: int = 5,
    pairs_of_interest: Sequence[tuple[str, str]] = ((USA, CHN),),
) -> pd.DataFrame:
    """Every indicator of one year as a long table (INDICATOR_COLUMNS)."""
    pairs = bilateral(flows)
    dep = dependence(pairs, balance)
    frames = [
        balance_indicators(balance, year),
        partner_indicators(pairs, year, top),
        _long(dep, "bilateral_dependence", "value", year, "partner"),
        network_indicators(pairs, year),
    ]
    for a, b in pairs_of_interest:
        frames.append(_long(interdependence(dep, a, b), "interdependence", "value", year, "partner"))
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    out["year"] = out["year"].astype("int64")
    return out[INDICATOR_COLUMNS]


def empty_indicators() -> pd.DataFrame:
    return empty_table(INDICATOR_DTYPES)


def _ratio_or(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den where den > 0, else ``fill``, elementwise and without warnings."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), fill)


def headline_indicators(
    production: np.ndarray,
    imports: np.ndarray,
    exports: np.ndarray,
    us_to_china: np.ndarray,
    china_to_us: np.ndarray,
) -> dict[str, np.ndarray]:
    """The numeric headline indicators (HEADLINE_INDICATORS), vectorised over a trailing draws axis.

    The one implementation, used by headline_row (the central case: one draw) and by the Monte
    Carlo (reeflow.sensitivity.montecarlo: every draw). ``production``, ``imports``, ``exports``:
    the balance rows of the US and China (reeflow.mfa.balance.balance_arrays: mine production,
    then the stage statistic, floor or derived production), t REO-eq, [stages x (USA, CHN) x
    draws]; ``us_to_china``, ``china_to_us``: the bilateral flows, [stages x draws]. Everything is
    summed over the stages (REO-eq handled, stage ``all``). Returns name -> [draws]:

    * ``us_net_exports_t``, ``china_net_exports_t``: exports - imports;
    * ``china_share_of_us_exports``: US->China / US exports (0 without US exports);
    * ``us_china_interdependence``: sqrt(d(US<-CN) x d(CN<-US)), d(A<-B) = A's imports from B / A's
      supply (production + imports), 0 where a supply is 0;
    * ``us_net_exporter``: 1.0 where the US net exports are > 0, else 0.0."""
    production, imports, exports = (np.asarray(a, dtype=float) for a in (production, imports, exports))
    supply = (production + imports).sum(axis=0)  # [(USA, CHN) x draws]
    total_imports, total_exports = imports.sum(axis=0), exports.sum(axis=0)
    us_cn = np.asarray(us_to_china, dtype=float).sum(axis=0)
    cn_us = np.asarray(china_to_us, dtype=float).sum(axis=0)
    us_net = total_exports[0] - total_imports[0]
    d_us = np.nan_to_num(_ratio_or(cn_us, supply[0], np.nan))
    d_cn = np.nan_to_num(_ratio_or(us_cn, supply[1], np.nan))
    return {
        "us_net_exports_t": us_net,
        "china_net_exports_t": total_exports[1] - total_imports[1],
        "china_share_of_us_exports": _ratio_or(us_cn, total_exports[0], 0.0),
        "us_china_interdependence": np.sqrt(d_us * d_cn),
        "us_net_exporter": (us_net > 0).astype(float),
    }


def headline_inputs(balance: pd.DataFrame, flows: pd.DataFrame) -> dict[str, np.ndarray]:
    """headline_indicators' arguments from one year's balance and flows tables, with one draw:
    the US and China balance rows per stage and their bilateral flows per stage."""
    present = {*balance["stage"].astype(str).unique(), *flows["stage"].astype(str).unique()}
    stages = [*STAGES, *sorted(present - set(STAGES))]
    b = balance.assign(country=balance["country"].astype(str), stage=balance["stage"].astype(str))
    b = b.groupby(["stage", "country"])[["production_t", "imports_t", "exports_t"]].sum()

    def focus(column: str) -> np.ndarray:
        table = b[column].unstack("country").reindex(index=stages, columns=[USA, CHN]).fillna(0.0)
        return table.to_numpy(dtype=float)[:, :, None]

    def link(exporter: str, importer: str) -> np.ndarray:
        rows = flows[(flows["exporter"].astype(str) == exporter) & (flows["importer"].astype(str) == importer)]
        per_stage = rows.groupby(rows["stage"].astype(str))["reo_t"].sum()
        return per_stage.reindex(stages, fill_value=0.0).to_numpy(dtype=float)[:, None]

    return {
        "production": focus("production_t"),
        "imports": focus("imports_t"),
        "exports": focus("exports_t"),
        "us_to_china": link(USA, CHN),
        "china_to_us": link(CHN, USA),
    }


def headline_row(balance: pd.DataFrame, flows: pd.DataFrame, year: int) -> dict[str, object]:
    """The study's claims for one year, over all stages (REO-eq): see HEADLINE_COLUMNS. The numeric
    ones come from headline_indicators (one draw); partners and coverage are worked out here."""
    values = {name: v[0] for name, v in headline_indicators(**headline_inputs(balance, flows)).items()}
    pairs = bilateral(flows)
    pairs = pairs[pairs["stage"] == ALL]
    us_exports = partner_shares(pairs, "exports").query("country == @USA")
    china_suppliers = partner_shares(pairs, "imports").query("country == @CHN")
    top = us_exports.sort_values(["rank", "partner"])["partner"]
    rank = china_suppliers.loc[china_suppliers["partner"] == USA, "rank"]
    return {
        "year": year,
        "us_net_exports_t": float(values["us_net_exports_t"]),
        "us_net_exporter": bool(values["us_net_exporter"]),
        "us_top_export_destination": str(top.iloc[0]) if len(top) else "",
        "china_share_of_us_exports": float(values["china_share_of_us_exports"]),
        "us_rank_among_china_suppliers": int(rank.iloc[0]) if len(rank) else pd.NA,
        "china_net_exports_t": float(values["china_net_exports_t"]),
        "us_china_interdependence": float(values["us_china_interdependence"]),
        **_coverage(balance),
    }


def _coverage(balance: pd.DataFrame) -> dict[str, object]:
    """How much of the US and China's trade both sides declared, and whose own flows are missing."""
    from reeflow.mfa.coverage import COVERAGE_COLUMNS, headline_coverage

    if not set(COVERAGE_COLUMNS) <= set(balance.columns):
        return {"two_sided_share": float("nan"), "missing_reporters": ""}
    return headline_coverage(balance, (USA, CHN))


def headline_table(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """One row per year, with a nullable integer rank (empty where the US does not supply China)."""
    table = pd.DataFrame(list(rows), columns=HEADLINE_COLUMNS)
    table["us_rank_among_china_suppliers"] = table["us_rank_among_china_suppliers"].astype("Int64")
    table["us_net_exporter"] = table["us_net_exporter"].astype(bool)
    return table.sort_values("year").reset_index(drop=True)
