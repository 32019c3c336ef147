"""Indicators and the headline table on a SYNTHETIC toy whose answers are worked out by hand.

Toy (t REO-eq): mining USA->CHN 30, USA->JPN 10; separation CHN->USA 8, CHN->JPN 12, JPN->CHN 2.
Production: mining USA 50, CHN 100; separation USA 10, CHN 120, JPN 9. KOR has nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.mfa.indicators import (
    HEADLINE_COLUMNS,
    HEADLINE_INDICATORS,
    INDICATOR_COLUMNS,
    bilateral,
    headline_indicators,
    headline_inputs,
    headline_row,
    headline_table,
    network_indicators,
    partner_indicators,
    year_indicators,
)


def toy_flows() -> pd.DataFrame:
    rows = [
        ("mining", "USA", "CHN", 30.0),
        ("mining", "USA", "JPN", 10.0),
        ("separation", "CHN", "USA", 8.0),
        ("separation", "CHN", "JPN", 12.0),
        ("separation", "JPN", "CHN", 2.0),
    ]
    flows = pd.DataFrame(rows, columns=["stage", "exporter", "importer", "reo_t"])
    return flows.assign(year=2020, hs6="000000", basis="importer")


def toy_balance() -> pd.DataFrame:
    flows = toy_flows()
    production = {
        ("USA", "mining"): 50.0,
        ("CHN", "mining"): 100.0,
        ("USA", "separation"): 10.0,
        ("CHN", "separation"): 120.0,
        ("JPN", "separation"): 9.0,
    }
    rows = []
    for country in ["USA", "CHN", "JPN", "KOR"]:
        for stage in ["mining", "separation"]:
            p = production.get((country, stage), 0.0)
            imp = flows.query("stage == @stage and importer == @country")["reo_t"].sum()
            exp = flows.query("stage == @stage and exporter == @country")["reo_t"].sum()
            rows.append(
                {
                    "year": 2020,
                    "country": country,
                    "stage": stage,
                    "production_t": p,
                    "imports_t": imp,
                    "exports_t": exp,
                    "apparent_consumption_t": p + imp - exp,
                    "net_exports_t": exp - imp,
                }
            )
    return pd.DataFrame(rows)


def lookup(table: pd.DataFrame, country: str, stage: str, indicator: str, partner: str = "") -> float:
    hit = table.query(
        "country == @country and stage == @stage and indicator == @indicator and partner == @partner"
    )
    assert len(hit) == 1, (country, stage, indicator, partner)
    return float(hit["value"].iloc[0])


def test_net_exports_status_and_import_reliance() -> None:
    table = year_indicators(toy_balance(), toy_flows(), 2020)
    assert list(table.columns) == INDICATOR_COLUMNS
    assert lookup(table, "USA", "all", "net_exports_t") == pytest.approx(40 - 8)
    assert lookup(table, "USA", "all", "net_exporter") == 1.0
    assert lookup(table, "CHN", "all", "net_exporter") == 0.0
    assert lookup(table, "USA", "mining", "net_import_reliance") == pytest.approx((0 - 40) / 10)
    assert lookup(table, "JPN", "mining", "net_import_reliance") == pytest.approx(1.0)
    assert np.isnan(lookup(table, "KOR", "mining", "net_import_reliance"))  # no consumption


def test_partners_ranks_and_concentration() -> None:
    table = year_indicators(toy_balance(), toy_flows(), 2020, top=1)
    assert lookup(table, "USA", "mining", "export_destination_share", "CHN") == pytest.approx(0.75)
    assert lookup(table, "USA", "mining", "export_destination_rank", "CHN") == 1
    assert (
        table.query(
            "country == 'USA' and stage == 'mining' and indicator == 'export_destination_rank'"
        ).shape[0]
        == 1
    )  # only the top one is listed
    assert lookup(table, "CHN", "mining", "import_hhi") == pytest.approx(10000)
    assert lookup(table, "JPN", "all", "import_hhi") == pytest.approx((1000 / 22) ** 2 + (1200 / 22) ** 2)
    assert lookup(table, "CHN", "separation", "bilateral_dependence", "JPN") == pytest.approx(2 / 122)


def test_us_china_interdependence_is_the_geometric_mean_of_both_dependences() -> None:
    table = year_indicators(toy_balance(), toy_flows(), 2020)
    d_us = 8 / (50 + 10 + 8)  # from China over US supply, all stages
    d_cn = 30 / (100 + 120 + 30 + 2)
    assert lookup(table, "USA", "all", "interdependence", "CHN") == pytest.approx(np.sqrt(d_us * d_cn))
    assert lookup(table, "USA", "mining", "interdependence", "CHN") == 0.0  # one-way at mining


def test_headline_on_the_toy() -> None:
    row = headline_row(toy_balance(), toy_flows(), 2020)
    assert row["us_net_exports_t"] == pytest.approx(32)
    assert row["us_net_exporter"] is True
    assert row["us_top_export_destination"] == "CHN"
    assert row["china_share_of_us_exports"] == pytest.approx(0.75)
    assert row["us_rank_among_china_suppliers"] == 1
    assert row["china_net_exports_t"] == pytest.approx(20 - 32)
    assert row["us_china_interdependence"] == pytest.approx(np.sqrt(8 / (50 + 10 + 8) * 30 / (100 + 120 + 30 + 2)))
    # a year where the US does not supply China: rank is empty, not 0
    no_us = toy_flows().query("exporter != 'USA'")
    table = headline_table([row, headline_row(toy_balance(), no_us, 2021)])
    assert list(table.columns) == HEADLINE_COLUMNS
    assert table["us_rank_among_china_suppliers"].isna().tolist() == [False, True]
    assert table["us_top_export_destination"].tolist() == ["CHN", ""]


def test_headline_indicators_on_hand_built_draws() -> None:
    """Four draws over (mining, separation), worked out by hand: a mutual dependence of 1/4 each
    way, the toy, a one-way link and nothing at all (no NaN: a share or dependence without a base is 0)."""
    # per draw and country: (production, imports, exports), each (mining, separation); then US->CN, CN->US
    draws = [
        {"USA": ((150, 0), (0, 50), (100, 0)), "CHN": ((200, 100), (100, 0), (0, 80)), "us_cn": (100, 0),
         "cn_us": (0, 50)},
        {"USA": ((50, 10), (0, 8), (40, 0)), "CHN": ((100, 120), (30, 2), (0, 20)), "us_cn": (30, 0), "cn_us": (0, 8)},
        {"USA": ((10, 0), (0, 0), (10, 0)), "CHN": ((0, 0), (10, 0), (0, 0)), "us_cn": (10, 0), "cn_us": (0, 0)},
        {"USA": ((0, 0),) * 3, "CHN": ((0, 0),) * 3, "us_cn": (0, 0), "cn_us": (0, 0)},
    ]  # fmt: skip
    balance = np.array([[d["USA"], d["CHN"]] for d in draws], dtype=float)  # [draws x country x quantity x stage]
    production, imports, exports = balance.transpose(2, 3, 1, 0)  # each [stages x (USA, CHN) x draws]
    us_to_china = np.array([d["us_cn"] for d in draws], dtype=float).T  # [stages x draws]
    china_to_us = np.array([d["cn_us"] for d in draws], dtype=float).T
    values = headline_indicators(production, imports, exports, us_to_china, china_to_us)
    assert tuple(values) == HEADLINE_INDICATORS
    np.testing.assert_allclose(values["us_china_interdependence"], [0.25, np.sqrt(8 / 68 * 30 / 252), 0.0, 0.0])
    np.testing.assert_allclose(values["us_net_exports_t"], [50, 32, 10, 0])
    np.testing.assert_allclose(values["china_net_exports_t"], [-20, -12, -10, 0])
    np.testing.assert_allclose(values["china_share_of_us_exports"], [1.0, 0.75, 1.0, 0.0])
    np.testing.assert_array_equal(values["us_net_exporter"], [1.0, 1.0, 1.0, 0.0])
    # the toy's central case is the second draw, fed from its balance and flows tables
    central = headline_inputs(toy_balance(), toy_flows())
    np.testing.assert_array_equal(central["production"][:2], production[:, :, [1]])
    np.testing.assert_array_equal(central["imports"][:2], imports[:, :, [1]])
    np.testing.assert_array_equal(central["exports"][:2], exports[:, :, [1]])
    np.testing.assert_array_equal(central["us_to_china"][:2], us_to_china[:, [1]])
    np.testing.assert_array_equal(central["china_to_us"][:2], china_to_us[:, [1]])
    assert not central["production"][2:].any()  # stages the toy lacks are 0
    row = headline_row(toy_balance(), toy_flows(), 2020)
    for name in HEADLINE_INDICATORS:
        assert float(row[name]) == values[name][1], name


def test_betweenness_marks_the_hub_of_a_chain() -> None:
    flows = pd.DataFrame(
        {"stage": "metal", "exporter": ["A", "B"], "importer": ["B", "C"], "reo_t": [5.0, 3.0]}
    )
    table = network_indicators(bilateral(flows), 2020).set_index(["country", "indicator"])["value"]
    assert table[("B", "betweenness")] > 0
    assert table[("A", "betweenness")] == 0 and table[("C", "betweenness")] == 0
    assert table[("B", "in_strength_t")] == 5.0 and table[("B", "out_strength_t")] == 3.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from("ABCD"), st.floats(1e-3, 1e6)),
        min_size=1,
        max_size=20,
    )
)
def test_hhi_within_bounds_and_shares_sum_to_one(rows: list) -> None:
    flows = pd.DataFrame(rows, columns=["exporter", "importer", "reo_t"]).assign(stage="final")
    flows = flows[flows["exporter"] != flows["importer"]]
    if flows.empty:
        return
    table = partner_indicators(bilateral(flows), 2020, top=10)
    hhi = table.loc[table["indicator"] == "import_hhi", "value"]
    assert ((hhi > 0) & (hhi <= 10000 + 1e-6)).all()
    shares = table[table["indicator"] == "import_supplier_share"].groupby(["country", "stage"])["value"].sum()
    np.testing.assert_allclose(shares, 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=3, max_value=25), st.floats(min_value=0.05, max_value=0.9), st.integers(0, 10_000))
def test_betweenness_matches_networkx_on_random_networks(n: int, density: float, seed: int) -> None:
    import networkx as nx

    from reeflow.mfa.indicators import shortest_path_betweenness

    rng = np.random.default_rng(seed)
    mask = (rng.random((n, n)) < density) & ~np.eye(n, dtype=bool)
    e, i = np.nonzero(mask)
    flows = rng.lognormal(3.0, 1.5, size=len(e))  # real-valued: shortest paths are unique
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from(zip(e.tolist(), i.tolist(), (1.0 / flows).tolist()), weight="distance")
    expected = nx.betweenness_centrality(graph, weight="distance", normalized=True)
    got = shortest_path_betweenness(e, i, 1.0 / flows, n)
    np.testing.assert_allclose(got, [expected[k] for k in range(n)], atol=1e-9)
