"""reeflow.mfa.coverage: which balance values rest on two declarations, one, or none (SYNTHETIC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reeflow.mfa.coverage import (
    balance_coverage,
    headline_coverage,
    partial_flows,
    reported_flows,
    two_sided_shares,
    unreported_flows,
)


def test_reported_flows_count_re_exports_as_reporting_the_flow() -> None:
    coverage = pd.DataFrame({"reporter": ["CHN", "USA", "USA"], "flow": ["M", "RX", "M"]})
    assert reported_flows(coverage) == {("CHN", "imports"), ("USA", "exports"), ("USA", "imports")}
    assert unreported_flows(["CHN", "USA", "JPN"], reported_flows(coverage)) == {
        "CHN": "exports", "USA": "", "JPN": "imports+exports",
    }  # fmt: skip


def test_two_sided_share_weights_flows_by_reo_and_is_nan_without_trade() -> None:
    # countries 0=CHN 1=USA 2=JPN; separation stage (1): USA->CHN 30 t two-sided, JPN->CHN 10 t one-sided
    shares = two_sided_shares(
        reo=np.array([30.0, 10.0]), stage_idx=np.array([1, 1]), exporter_idx=np.array([1, 2]),
        importer_idx=np.array([0, 0]), two_sided=np.array([True, False]), n_countries=3,
    )  # fmt: skip
    assert shares[1, 0] == pytest.approx(0.75)  # CHN imports 40 t, 30 t of them declared twice
    assert shares[1, 1] == pytest.approx(1.0) and shares[1, 2] == pytest.approx(0.0)
    assert np.isnan(shares[0]).all()  # no mining trade


def test_balance_rows_and_headline_name_the_missing_reporters() -> None:
    balance = pd.DataFrame({
        "country": ["CHN", "USA", "CHN", "USA"], "stage": ["mining", "mining", "separation", "separation"],
        "imports_t": [0.0, 0.0, 40.0, 0.0], "exports_t": [0.0, 0.0, 0.0, 30.0],
    })  # fmt: skip
    shares = np.full((5, 2), np.nan)
    shares[1] = [0.75, 1.0]
    out = balance_coverage(balance, shares, ["CHN", "USA"], {("CHN", "imports"), ("USA", "exports")})
    assert out["unreported_flows"].tolist() == ["exports", "imports", "exports", "imports"]
    assert out["two_sided_share"].iloc[2] == pytest.approx(0.75) and np.isnan(out["two_sided_share"].iloc[0])
    head = headline_coverage(out)
    assert head["missing_reporters"] == "USA imports; CHN exports"
    assert head["two_sided_share"] == pytest.approx((0.75 * 40 + 1.0 * 30) / 70)


def test_partner_declarations_short_of_the_world_total_make_a_flow_partial() -> None:
    world_check = pd.DataFrame({
        "reporter": ["CHN", "CHN", "USA", "USA", "USA"], "flow": ["X", "X", "M", "X", "X"],
        "cmd_code": ["2846", "280530", "2846", "284690", "280530"],
        "world_qty_t": [40_000.0, 1_000.0, 0.0, 50_000.0, 500.0],
        "partners_qty_t": [8_000.0, 950.0, 4_000.0, 49_000.0, 20.0],
    })  # fmt: skip
    table = pd.DataFrame({"hs_code": ["2846", "284690", "280530"], "stage": ["separation", "separation", "metal"]})
    partial = partial_flows(world_check, table)
    # a zero World row says nothing; China's metal exports are complete, its compounds are not
    assert partial == {("CHN", "exports", "separation"): pytest.approx(0.2), ("USA", "exports", "metal"): 0.04}
    reported = {("CHN", "imports"), ("CHN", "exports"), ("USA", "exports")}
    assert unreported_flows(["CHN", "USA"], reported, partial, "separation") == {"CHN": "exports_partial",
                                                                                 "USA": "imports"}
    assert unreported_flows(["CHN", "USA"], reported, partial, "metal") == {"CHN": "", "USA": "imports+exports_partial"}
