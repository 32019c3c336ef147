"""Property-based tests (hypothesis) of the model's invariants, on random SYNTHETIC inputs:

* the mass balance closes: every balance equation of reeflow.mfa.balance holds (unexplained residual
  at rounding level) for any non-negative imports, exports, production, statistics and floors;
* origin shares sum to one wherever a country has supply (reeflow.mfa.tracing), whatever the network;
* reconciliation stays within its declarations as each mirror rule says (choose_quantity);
* the stock model conserves mass: stock = initial + cumulative inflow - cumulative outflow.

Kept fast (at most 100 examples each, no deadline): the whole file runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reeflow.clean.reconcile import RULES, choice_basis, choose_quantity, importer_weights
from reeflow.commodities import STAGES
from reeflow.mfa.balance import balance_arrays, unexplained_residuals
from reeflow.mfa.stocks import horizon_for, stock_model, survival_curve
from reeflow.mfa.tracing import UNATTRIBUTED, flow_matrix, origin_table, trace_origins

N_STAGES = len(STAGES)
PROPERTY = settings(max_examples=80, deadline=None)

# Tonnes as customs data give them: 0, or between a kilogram and a million tonnes.
tonnes = st.one_of(st.just(0.0), st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False))
maybe_tonnes = st.one_of(st.just(np.nan), st.floats(1e-3, 1e9, allow_nan=False, allow_infinity=False))


# ------------------------------------------------------------------------------------ mass balance


@st.composite
def balance_inputs(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 4))
    draws = draw(st.sampled_from([(), (3,)]))  # plain, or with a trailing axis of Monte Carlo draws
    shape = (N_STAGES, n, *draws)
    stats_or_nan = st.one_of(st.just(np.nan), tonnes)
    return {
        "mining_production": draw(hnp.arrays(float, (n, *draws), elements=tonnes)),
        "imports": draw(hnp.arrays(float, shape, elements=tonnes)),
        "exports": draw(hnp.arrays(float, shape, elements=tonnes)),
        "yields": np.concatenate([[1.0], draw(hnp.arrays(float, N_STAGES - 1, elements=st.floats(0.05, 1.0)))]),
        "production_stats": draw(hnp.arrays(float, (N_STAGES, n), elements=stats_or_nan)),
        "production_floors": draw(hnp.arrays(float, (N_STAGES, n), elements=stats_or_nan)),
        "clip": draw(st.booleans()),
    }


@PROPERTY
@given(balance_inputs())
def test_mass_balance_closes_for_any_non_negative_inputs(inputs: dict) -> None:
    b = balance_arrays(**inputs)
    yields = inputs["yields"]
    scale = 1.0 + max(np.abs(a).max() for a in (b.production, b.imports, b.exports, b.feed))
    assert unexplained_residuals(b, yields).max() <= 1e-9 * scale
    # the equations, written out independently of unexplained_residuals
    raw = b.production + b.imports - b.exports
    np.testing.assert_allclose(b.feed, np.maximum(raw, 0.0), atol=1e-9 * scale)
    np.testing.assert_allclose(b.negative, np.minimum(raw, 0.0), atol=1e-9 * scale)
    np.testing.assert_allclose(b.apparent, b.feed if inputs["clip"] else raw, atol=1e-9 * scale)
    assert (b.production >= 0).all() and (b.losses >= -1e-9 * scale).all() and (b.unprocessed >= 0).all()
    for s in range(1, N_STAGES):  # nothing vanishes between stages
        excess = np.maximum(b.statistic_gap[s], 0.0)
        np.testing.assert_allclose(
            b.production[s] + b.losses[s] + b.unprocessed[s] - excess, b.feed[s - 1], atol=1e-9 * scale
        )
        np.testing.assert_allclose(b.losses[s], b.feed[s - 1] * (1.0 - yields[s]), atol=1e-9 * scale)


# ------------------------------------------------------------------------------------ origin tracing

networks = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), tonnes), max_size=15)


@settings(max_examples=50, deadline=None)
@given(
    stage_flows=st.lists(networks, min_size=1, max_size=3),
    production=hnp.arrays(float, (3, 5), elements=tonnes),
    miners=st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True),
)
def test_origin_shares_sum_to_one_wherever_there_is_supply(
    stage_flows: list, production: np.ndarray, miners: list[int]
) -> None:
    def matrix(flows: list) -> sp.csr_matrix:
        flows = [f for f in flows if f[0] != f[1]]  # no self-trade, as reeflow.mfa.balance keeps none
        if not flows:
            return sp.csr_matrix((5, 5))
        e, i, q = (np.array(x) for x in zip(*flows, strict=True))
        return flow_matrix(e, i, q, 5)

    origins = np.array(sorted(miners))
    mined = production[0].copy()
    mined[[c for c in range(5) if c not in miners]] = 0.0  # only the origin countries mine
    stages = np.vstack([mined, production[1 : len(stage_flows)]])
    matrices = [matrix(f) for f in stage_flows]
    traces = trace_origins(matrices, stages, origins)
    for trace, z in zip(traces, matrices, strict=True):
        has = trace.supply > 0
        assert (trace.origins >= 0).all()
        np.testing.assert_allclose(trace.origins[has].sum(axis=1), 1.0, atol=1e-9)
        assert not trace.origins[~has].any()
        # after scaling nobody ships more than it holds (to the scaling's own tolerance)
        exported = np.asarray(trace.z.sum(axis=1)).ravel()
        assert (exported <= trace.supply + 1e-9 * (1.0 + z.sum() + trace.production.sum())).all()
    table = origin_table(traces, [f"C{c}" for c in range(5)], origins, 2020)
    sums = table.groupby(["stage", "country"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    assert set(table["origin"]) <= {f"C{c}" for c in origins} | {UNATTRIBUTED}


# ------------------------------------------------------------------------------------ reconciliation


@settings(max_examples=100, deadline=None)
@given(
    qi=hnp.arrays(float, 10, elements=maybe_tonnes),
    qe=hnp.arrays(float, 10, elements=maybe_tonnes),
    w=hnp.arrays(float, 10, elements=st.floats(0.0, 1.0)),
)
def test_reconciliation_lies_within_its_declarations_as_each_rule_says(
    qi: np.ndarray, qe: np.ndarray, w: np.ndarray
) -> None:
    has_i, has_e = ~np.isnan(qi), ~np.isnan(qe)
    both, lo, hi = has_i & has_e, np.fmin(qi, qe), np.fmax(qi, qe)
    chosen = {rule: choose_quantity(qi, qe, rule, w) for rule in RULES}
    for rule, got in chosen.items():
        assert np.array_equal(np.isnan(got), ~has_i & ~has_e), rule  # missing only when both are
        one = has_i ^ has_e  # a one-sided flow takes the side that exists under every rule
        np.testing.assert_array_equal(got[one], np.where(has_i, qi, qe)[one])
    # importer_first / exporter_first pick one side: theirs where declared, else the other
    np.testing.assert_array_equal(chosen["importer_first"], np.where(has_i, qi, qe))
    np.testing.assert_array_equal(chosen["exporter_first"], np.where(has_e, qe, qi))
    # max is at least both declarations, and is one of them
    assert (chosen["max"][both] >= qi[both]).all() and (chosen["max"][both] >= qe[both]).all()
    np.testing.assert_array_equal(chosen["max"][both], hi[both])
    # weighted_mean lies between the two declarations
    mean = chosen["weighted_mean"][both]
    assert (mean >= lo[both] * (1 - 1e-12)).all() and (mean <= hi[both] * (1 + 1e-12)).all()
    basis = choice_basis(qi, qe, "importer_first")
    assert set(basis[has_i]) <= {"importer"} and set(basis[~has_i & has_e]) <= {"exporter"}


@settings(max_examples=50, deadline=None)
@given(
    flows=st.lists(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from("ABCD"), maybe_tonnes, maybe_tonnes), min_size=1,
        max_size=20,
    )
)
def test_reliability_weights_keep_the_weighted_mean_between_the_declarations(flows: list) -> None:
    exp, imp, qi, qe = (np.array(x) for x in zip(*flows, strict=True))
    qi, qe = qi.astype(float), qe.astype(float)
    w = importer_weights(exp, imp, qi, qe)
    assert ((w >= 0) & (w <= 1)).all()
    both = ~np.isnan(qi) & ~np.isnan(qe)
    got = choose_quantity(qi, qe, "weighted_mean", w)[both]
    assert (got >= np.fmin(qi, qe)[both] * (1 - 1e-12)).all() and (got <= np.fmax(qi, qe)[both] * (1 + 1e-12)).all()


# ------------------------------------------------------------------------------------ stocks

lifetimes = st.one_of(
    st.builds(lambda m: {"distribution": "fixed", "mean": m}, st.floats(0.5, 30)),
    st.builds(lambda m, sd: {"distribution": "normal", "mean": m, "sd": sd}, st.floats(1, 30), st.floats(0.1, 10)),
    st.builds(lambda m, sd: {"distribution": "lognormal", "mean": m, "sd": sd}, st.floats(1, 30), st.floats(0.1, 10)),
    st.builds(lambda m, k: {"distribution": "weibull", "mean": m, "shape": k}, st.floats(1, 30), st.floats(0.5, 5)),
)


@PROPERTY
@given(
    inflow=st.integers(1, 3).flatmap(
        lambda n: st.integers(1, 25).flatmap(lambda y: hnp.arrays(float, (n, y), elements=tonnes))
    ),
    lifetime=lifetimes,
    initial=st.sampled_from(["zero", "steady_state"]),
)
def test_stock_is_initial_plus_cumulative_inflow_minus_outflow(inflow: np.ndarray, lifetime: dict,
                                                                initial: str) -> None:  # fmt: skip
    n_years = inflow.shape[1]
    sf = survival_curve(lifetime, n_years)
    tail = survival_curve(lifetime, horizon_for(lifetime)) if initial == "steady_state" else None
    stock, outflow, initial_stock = stock_model(inflow, sf, initial, tail)
    scale = 1.0 + inflow.sum() * (1 + horizon_for(lifetime))
    expected = initial_stock[:, None] + np.cumsum(inflow, axis=1) - np.cumsum(outflow, axis=1)
    np.testing.assert_allclose(stock, expected, atol=1e-9 * scale)
    assert (stock >= -1e-9 * scale).all() and (outflow >= -1e-9 * scale).all()  # survival never rises
    if initial == "zero":
        assert not initial_stock.any()
