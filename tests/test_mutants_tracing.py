"""Hand-built cases for reeflow.mfa.tracing that kill the mutants `make mutation` found alive (docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_tracing import COUNTRIES, toy

from reeflow.io import ReeflowError
from reeflow.mfa.tracing import (
    _normalised,
    assert_shares_sum_to_one,
    cut_link_shares,
    cut_mask,
    disruption_table,
    flow_matrix,
    stage_flow_matrices,
    trace_origins,
    tracing_residuals,
)


def test_normalised_shares_drop_rounding_below_zero_without_warnings() -> None:
    origins = np.array([[1.0, -1e-9], [0.0, 0.0], [0.25, 0.25]])
    supply = np.array([5.0, 0.0, 2.0])
    with np.errstate(all="raise"):
        out = _normalised(origins, supply)
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.0, 0.0], [0.5, 0.5]])


def test_share_check_covers_small_supplies_and_names_the_fix() -> None:
    with pytest.raises(ReeflowError, match="check the flows table of this year"):
        assert_shares_sum_to_one(np.array([[0.5, 0.0]]), np.array([0.5]), "mining")


def test_share_check_tolerates_rounding_up_to_the_tolerance() -> None:
    assert_shares_sum_to_one(np.array([[1.0 + 1e-6, -1e-6]]), np.array([3.0]), "mining")
    with pytest.raises(ReeflowError):
        assert_shares_sum_to_one(np.array([[1.0 + 2e-6, -2e-6]]), np.array([3.0]), "mining")


def test_tracing_leaves_the_callers_flow_matrices_alone() -> None:
    tiny = flow_matrix(np.array([0, 1]), np.array([1, 2]), np.array([60.0, 1e-12]), 3)
    before = tiny.toarray().copy()
    trace_origins([tiny], np.array([[100.0, 0.0, 0.0]]), np.array([0]))
    np.testing.assert_array_equal(tiny.toarray(), before)


def test_a_country_without_supply_loses_nothing_to_a_cut() -> None:
    # C mines nothing and imports nothing at stage one: no supply, so no shortfall either
    mining = flow_matrix(np.array([0]), np.array([1]), np.array([60.0]), 3)
    traces = trace_origins([mining], np.array([[100.0, 0.0, 0.0]]), np.array([0]))
    shares = cut_link_shares(traces, cut_mask([("A", "B")], [], COUNTRIES))
    np.testing.assert_array_equal(shares, [[0.0, 1.0, 0.0]])


def test_residuals_and_disruption_tables_keep_their_columns() -> None:
    matrices, production = toy()
    production = production.copy()
    production[0, 1] = 0.0
    traces = trace_origins(matrices, production, np.array([0, 2]))
    residuals = tracing_residuals(traces, COUNTRIES, 2020)
    assert residuals.columns.tolist() == ["year", "country", "stage", "kind", "residual_t", "reason"]
    empty = disruption_table(traces, COUNTRIES, 2020, [], [])
    assert empty.empty and empty.columns.tolist() == [
        "year", "scenario", "country", "stage", "shortfall_t", "shortfall_share"
    ]
    assert empty["year"].dtype == np.int64 and empty["shortfall_t"].dtype == np.float64
    assert pd.api.types.is_string_dtype(empty["country"])


def test_each_stage_matrix_holds_only_that_stages_flows() -> None:
    flows = pd.DataFrame({"stage": ["mining", "separation", "separation"], "exporter": ["A", "B", "B"],
                          "importer": ["B", "C", "C"], "reo_t": [60.0, 10.0, 5.0]})  # fmt: skip
    mining, separation, *rest = stage_flow_matrices(flows, COUNTRIES)
    np.testing.assert_array_equal(mining.toarray(), [[0, 60.0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(separation.toarray(), [[0, 0, 0], [0, 0, 15.0], [0, 0, 0]])
    assert all(m.nnz == 0 for m in rest)
