"""Origin tracing and the cut-link label on SYNTHETIC toy networks with hand-computed answers.

Toy (three countries A=0, B=1, C=2; two stages): A mines 100, C mines 50. Mining flows A->B 60,
B->C 20, C->A 10; separation yield 0.5; separation flows B->C 10, A->B 5.
Mining origins (A-share): a = (100 + 10c)/110, b = a, c = 20b/70  ->  a = 14/15, c = 4/15.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.io import ReeflowError
from reeflow.mfa.tracing import (
    UNATTRIBUTED,
    assert_shares_sum_to_one,
    cut_link_shares,
    cut_mask,
    disruption_scenarios,
    disruption_table,
    flow_matrix,
    limit_exports_to_supply,
    origin_table,
    trace_origins,
    tracing_residuals,
)

COUNTRIES = ["A", "B", "C"]


def toy() -> tuple[list[sp.csr_matrix], np.ndarray]:
    mining = flow_matrix(np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([60.0, 20, 10]), 3)
    separation = flow_matrix(np.array([1, 0]), np.array([2, 1]), np.array([10.0, 5]), 3)
    # production: mining as mined; separation = 0.5 x mining consumption (50, 40, 60)
    production = np.array([[100.0, 0.0, 50.0], [25.0, 20.0, 30.0]])
    return [mining, separation], production


def test_toy_origins_match_hand_computation() -> None:
    matrices, production = toy()
    traces = trace_origins(matrices, production, np.array([0, 2]))
    mining, separation = (t.origins for t in traces)
    np.testing.assert_allclose(mining[:, :2], [[14 / 15, 1 / 15], [14 / 15, 1 / 15], [4 / 15, 11 / 15]])
    # C's separation supply: 30 own (mining mix of C) + 10 from B (B's mix)
    np.testing.assert_allclose(separation[2, :2], [13 / 30, 17 / 30])
    np.testing.assert_allclose(separation[1, :2], [14 / 15, 1 / 15])
    assert np.all(mining[:, 2] == 0)  # nothing unattributed
    table = origin_table(traces, COUNTRIES, np.array([0, 2]), 2020)
    assert set(table["origin"]) == {"A", "C"}
    assert table.query("stage == 'separation' and country == 'C' and origin == 'A'")["share"].iloc[
        0
    ] == pytest.approx(13 / 30)


def test_cut_link_label_matches_hand_computation() -> None:
    matrices, production = toy()
    traces = trace_origins(matrices, production, np.array([0, 2]))
    shares = cut_link_shares(traces, cut_mask([("A", "B")], [], COUNTRIES))
    # mining: B's supply all crossed A->B; C gets 20 of 70 from B; A gets 10 of 110 from C
    np.testing.assert_allclose(shares[0], [2 / 77, 1.0, 2 / 7])
    # separation: own production inherits the mining label, plus the cut flow A->B (5) itself
    np.testing.assert_allclose(shares[1], [2 / 77, 1.0, (30 * 2 / 7 + 10) / 40])
    table = disruption_table(traces, COUNTRIES, 2020, [("A", "B")], ["C"])
    cut = table[(table["scenario"] == "cut A->B") & (table["stage"] == "mining")].set_index("country")
    assert cut.loc["C", "shortfall_t"] == pytest.approx(20.0)
    assert set(table["scenario"]) == {"cut A->B", "no exports from C"}


def test_removing_an_exporter_cuts_all_its_links() -> None:
    matrices, production = toy()
    traces = trace_origins(matrices, production, np.array([0, 2]))
    shares = cut_link_shares(traces, cut_mask([], ["A"], COUNTRIES))
    both = cut_link_shares(traces, cut_mask([("A", "B"), ("A", "C")], [], COUNTRIES))
    np.testing.assert_allclose(shares, both)
    assert shares[0, 0] == pytest.approx(2 / 77)  # what A gets back through B and C


def test_scenarios_are_each_link_all_links_and_each_exporter() -> None:
    names = disruption_scenarios([("USA", "CHN"), ("CHN", "USA")], ["AUS"])
    assert list(names) == ["cut USA->CHN", "cut CHN->USA", "cut USA->CHN CHN->USA", "no exports from AUS"]


def test_exports_above_supply_are_scaled_and_reported() -> None:
    # B has no production and imports 10 but exports 30
    z = flow_matrix(np.array([0, 1]), np.array([1, 2]), np.array([10.0, 30.0]), 3)
    scaled, removed = limit_exports_to_supply(z, np.array([100.0, 0.0, 0.0]))
    assert scaled[1, 2] == pytest.approx(10.0)
    np.testing.assert_allclose(removed, [0.0, 20.0, 0.0])
    traces = trace_origins([z], np.array([[100.0, 0.0, 0.0]]), np.array([0]))
    report = tracing_residuals(traces, COUNTRIES, 2020)
    assert report.set_index("country").loc["B", "residual_t"] == pytest.approx(20.0)
    assert traces[0].origins[2, 0] == pytest.approx(1.0)


def test_scaling_cascades_to_importers() -> None:
    # A has 10 and exports 40 to B, which exports 35 to C: after A is cut to 10, B must fall to 10
    z = flow_matrix(np.array([0, 1]), np.array([1, 2]), np.array([40.0, 35.0]), 3)
    scaled, _ = limit_exports_to_supply(z, np.array([10.0, 0.0, 0.0]))
    supply = np.array([10.0, 0.0, 0.0]) + np.asarray(scaled.sum(axis=0)).ravel()
    assert (np.asarray(scaled.sum(axis=1)).ravel() <= supply + 1e-9).all()
    assert scaled[1, 2] == pytest.approx(10.0)


def test_trade_loop_without_a_source_is_unattributed() -> None:
    # B and C swap 10 t back and forth; nobody produces at this stage; A mines and keeps its ore
    z = flow_matrix(np.array([1, 2]), np.array([2, 1]), np.array([10.0, 10.0]), 3)
    traces = trace_origins([z], np.array([[5.0, 0.0, 0.0]]), np.array([0]))
    origins = traces[0].origins
    np.testing.assert_allclose(origins[0], [1.0, 0.0])
    np.testing.assert_allclose(origins[1:], [[0.0, 1.0], [0.0, 1.0]])
    table = origin_table(traces, COUNTRIES, np.array([0]), 2020)
    assert set(table.loc[table["country"] == "B", "origin"]) == {UNATTRIBUTED}


def test_a_leaking_loop_without_a_source_is_cut_by_the_linear_programme(monkeypatch: pytest.MonkeyPatch) -> None:
    """B and C swap 10 t and C also ships 5 t to D, with no production: fixed-point scaling only shrinks
    geometrically, so the largest feasible scaling comes from the LP, and it is zero. Every tonne is
    reported as removed and nobody is left with supply of no origin."""
    import reeflow.mfa.tracing as tracing

    calls: list[int] = []
    real = tracing._largest_feasible_scaling
    monkeypatch.setattr(tracing, "_largest_feasible_scaling", lambda *a: calls.append(1) or real(*a))
    z = flow_matrix(np.array([1, 2, 2]), np.array([2, 1, 3]), np.array([10.0, 10.0, 5.0]), 4)
    scaled, removed = limit_exports_to_supply(z, np.array([5.0, 0.0, 0.0, 0.0]))
    assert calls == [1]
    assert not scaled.toarray().any()
    np.testing.assert_allclose(removed, [0.0, 10.0, 15.0, 0.0])
    traces = trace_origins([z], np.array([[5.0, 0.0, 0.0, 0.0]]), np.array([0]))
    np.testing.assert_allclose(traces[0].supply, [5.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(traces[0].origins, [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    report = tracing_residuals(traces, ["A", "B", "C", "D"], 2020).set_index("country")
    assert report["residual_t"].to_dict() == pytest.approx({"B": 10.0, "C": 15.0})
    assert set(report["kind"]) == {"tracing_export_scaling"} and set(report["stage"]) == {"mining"}


def test_later_stage_production_without_traced_supply_is_unattributed() -> None:
    """B reports 20 t of separation output but had no mining supply: that output's origin is
    UNATTRIBUTED, while the 20 t it imports from A keep A's origin (shares 0.5 / 0.5)."""
    mining = flow_matrix(np.array([0]), np.array([1]), np.array([0.0]), 3)
    separation = flow_matrix(np.array([0]), np.array([1]), np.array([20.0]), 3)
    traces = trace_origins([mining, separation], np.array([[100.0, 0.0, 0.0], [50.0, 20.0, 0.0]]), np.array([0]))
    np.testing.assert_allclose(traces[1].origins, [[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    table = origin_table(traces, COUNTRIES, np.array([0]), 2020)
    b = table[(table["stage"] == "separation") & (table["country"] == "B")].set_index("origin")["share"]
    assert b.to_dict() == pytest.approx({"A": 0.5, UNATTRIBUTED: 0.5})
    assert "C" not in set(table["country"])  # no supply, no row


def test_scaled_exports_keep_every_importers_shares_summing_to_one() -> None:
    """A (mines 10) sends 40 to B, B sends 35 to C: after scaling, B and C hold only A's material."""
    z = flow_matrix(np.array([0, 1]), np.array([1, 2]), np.array([40.0, 35.0]), 3)
    traces = trace_origins([z], np.array([[10.0, 0.0, 0.0]]), np.array([0]))
    trace = traces[0]
    has = trace.supply > 0
    np.testing.assert_allclose(trace.origins[has].sum(axis=1), 1.0)
    np.testing.assert_allclose(trace.origins[has, 0], 1.0)  # nothing UNATTRIBUTED: all came from A
    np.testing.assert_allclose(trace.removed_exports, [30.0, 25.0, 0.0])
    exported = np.asarray(trace.z.sum(axis=1)).ravel()
    assert (exported <= trace.supply + 1e-9).all()


def test_shares_not_summing_to_one_are_an_error() -> None:
    with pytest.raises(ReeflowError, match="stage metal"):
        assert_shares_sum_to_one(np.array([[0.5, 0.2]]), np.array([3.0]), "metal")


# Quantities are 0 or at least a kilogram, as in customs data (Comtrade reports kg).
tonnes = st.one_of(st.just(0.0), st.floats(1e-3, 1e4))
networks = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), tonnes), max_size=25)


@settings(max_examples=80, deadline=None)
@given(
    mining_flows=networks,
    later_flows=networks,
    mined=st.lists(tonnes, min_size=6, max_size=6),
    y=st.floats(0.2, 1.0),
)
def test_random_networks_conserve_each_origin(
    mining_flows: list, later_flows: list, mined: list, y: float
) -> None:
    """Shares sum to 1 wherever there is supply, and each origin's consumption equals its mining."""

    def matrix(flows: list) -> sp.csr_matrix:
        flows = [f for f in flows if f[0] != f[1]]
        return flow_matrix(
            np.array([f[0] for f in flows], dtype=int),
            np.array([f[1] for f in flows], dtype=int),
            np.array([f[2] for f in flows], dtype=float),
            6,
        )

    mining = np.array(mined)
    z0 = matrix(mining_flows)
    z0_ok, _ = limit_exports_to_supply(z0, mining)
    consumption0 = mining + np.asarray(z0_ok.sum(axis=0)).ravel() - np.asarray(z0_ok.sum(axis=1)).ravel()
    production = np.vstack([mining, y * np.maximum(consumption0, 0.0)])
    producers = np.nonzero(mining > 0)[0]
    traces = trace_origins([z0, matrix(later_flows)], production, producers)
    for trace in traces:
        has = trace.supply > 0
        np.testing.assert_allclose(trace.origins[has].sum(axis=1), 1.0, atol=1e-12)
        assert trace.origins.min() > -1e-9
    first = traces[0]
    consumed = first.supply - np.asarray(first.z.sum(axis=1)).ravel()
    scale = 1.0 + mining.sum() + z0.sum()  # scaling stops within 1e-10 of all tonnes
    assert consumed.min() > -1e-9 * scale
    by_origin = consumed @ first.origins[:, : len(producers)]
    np.testing.assert_allclose(by_origin, mining[producers], rtol=1e-6, atol=1e-9 * scale)
    cut = cut_link_shares(traces, cut_mask([("A", "B")], [], list("ABCDEF")))
    assert cut.min() >= 0 and cut.max() <= 1
