"""Hand-built cases for reeflow.mfa.balance that kill the mutants `make mutation` found alive (docs/mutation.md).

The toy world (three countries A, B, C) is tests/test_mfa.py's; the numbers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_mfa import CONFIG, toy_commodities, toy_production, toy_trade, trade_rows

from reeflow.commodities import STAGES, load_commodities
from reeflow.io import ReeflowError
from reeflow.mfa.balance import (
    YEAR_OUTPUTS,
    balance_arrays,
    central_units,
    collect_mfa,
    country_index,
    flow_units,
    production_stats_matrix,
    reo_flows,
    run_mfa_year,
    stage_statistics_for_year,
    supply_trade,
    trade_two_sided_shares,
    unexplained_residuals,
    year_balance,
)
from reeflow.mfa.coverage import partial_flows, reported_flows

YIELDS = np.array([1.0, 0.5, 0.8, 0.9, 1.0])


def test_supply_trade_keeps_the_columns_it_was_given() -> None:
    trade = toy_trade()
    out = supply_trade(trade)
    assert list(out.columns) == list(trade.columns)
    assert list(out.index) == list(range(len(out)))


def test_negative_tonnes_alone_are_refused() -> None:
    trade = trade_rows([("A", "B", "000001", -1.0)])
    with pytest.raises(ReeflowError, match="negative qty_t"):
        flow_units(trade, toy_commodities())


def test_a_flow_without_quantity_counts_zero_tonnes() -> None:
    trade = trade_rows([("A", "B", "000001", np.nan), ("A", "C", "000001", 10.0)])
    flows = reo_flows(trade, toy_commodities(), 2020).set_index("importer")
    assert flows.loc["B", "reo_t"] == 0.0 and flows.loc["C", "reo_t"] == 5.0
    assert flows["reo_t"].dtype == np.float64


def test_country_index_without_stage_statistics() -> None:
    flows = pd.DataFrame({"exporter": ["B"], "importer": ["C"]})
    assert country_index(flows, pd.Series({"A": 1.0})) == ["A", "B", "C"]


def test_production_statistics_matrix_is_float_nan_where_none_exists() -> None:
    stats = pd.Series({("separation", "B"): 7.0})
    out = production_stats_matrix(stats, ["A", "B"])
    assert out.dtype == np.float64 and out[STAGES.index("separation"), 1] == 7.0
    assert np.isnan(out[0]).all() and np.isnan(out[:, 0]).all()


def test_bad_stage_statistics_name_the_country_and_the_fix() -> None:
    production = pd.DataFrame({"year": 2020, "country": ["B"], "stage": ["separation"], "value_t_reo": [-1.0]})
    with pytest.raises(ReeflowError, match=r"\['B'\]"):
        stage_statistics_for_year(production, 2020)
    with pytest.raises(ReeflowError, match="rerun the clean_production rule"):
        stage_statistics_for_year(production.drop(columns="stage"), 2020)


def test_unexplained_residuals_keep_stage_and_country_axes_with_draws() -> None:
    imports = np.zeros((5, 2, 3))
    exports = np.zeros((5, 2, 3))
    b = balance_arrays(np.ones((2, 3)), imports, exports, np.tile(YIELDS[:, None], (1, 3)))
    b.losses[2, 1, 0] += 0.25  # one draw of one country and stage breaks the loss equation
    worst = unexplained_residuals(b, np.tile(YIELDS[:, None], (1, 3)))
    assert worst.shape == (5, 2)
    assert worst[2, 1] == pytest.approx(0.25) and worst.sum() == pytest.approx(0.25)


def test_two_sided_share_is_the_declared_part_of_each_row() -> None:
    # A->B mining 120 t (60 t REO) declared by both sides, C->B 40 t (20 t REO) by one side only
    trade = trade_rows([("A", "B", "000001", 120.0), ("C", "B", "000001", 40.0)], one_sided=[False, True])
    shares = trade_two_sided_shares(central_units(trade, toy_commodities()), ["A", "B", "C"])
    np.testing.assert_allclose(shares[0], [1.0, 60.0 / 80.0, 0.0])
    assert np.isnan(shares[1:]).all()
    # a one-sided row without a quantity counts 0 t: B's mining trade stays entirely two-sided
    trade = trade_rows([("A", "B", "000001", 120.0), ("C", "B", "000001", np.nan)], one_sided=[False, True])
    rows = central_units(trade, toy_commodities())
    np.testing.assert_allclose(trade_two_sided_shares(rows, ["A", "B", "C"])[0], [1.0, 1.0, np.nan])


def test_year_balance_tables_carry_the_year_basis_and_reasons() -> None:
    production = pd.concat(
        [toy_production(), pd.DataFrame({"year": [2020], "country": ["B"], "stage": ["separation"],
                                         "value_t_reo": [1.0]})],
        ignore_index=True,
    )  # fmt: skip
    result = year_balance(toy_trade(), production, toy_commodities(), 2020, CONFIG)
    assert (result.residuals["year"] == 2020).all() and result.residuals["year"].dtype == np.int64
    basis = result.balance_table.set_index(["stage", "country"])["production_basis"]
    assert basis[("mining", "A")] == "statistic" and basis[("mining", "B")] == "none"
    assert basis[("separation", "B")] == "statistic" and basis[("separation", "A")] == "derived"
    reasons = result.residuals.set_index(["kind", "country", "stage"])["reason"]
    # B's separation statistic (1 t) is below its mining feed x yield: the rest is unprocessed
    assert reasons[("statistic_vs_yield", "B", "separation")].startswith("production statistic below")
    negative = result.residuals[result.residuals["kind"] == "negative_consumption"]
    assert len(negative) and negative["reason"].str.endswith("(clipped to 0)").all()


def test_a_year_without_mines_names_the_production_table() -> None:
    with pytest.raises(ReeflowError, match="^production table: no mine production"):
        year_balance(toy_trade(), toy_production(), toy_commodities(), 2018, CONFIG)


# ------------------------------------------------------------------------------ the rule functions


def write_inputs(tmp_path: Path) -> tuple[str, str, str]:
    toy_trade().to_parquet(tmp_path / "trade.parquet")
    toy_production().to_parquet(tmp_path / "production.parquet")
    toy_commodities().assign(
        description="SYNTHETIC", content_low=0.0, content_high=2.0, share_low=0.0, share_high=1.0,
        revisions="", include="true", citation="SYNTHETIC toy",
    ).to_csv(tmp_path / "commodities.csv", index=False)  # fmt: skip
    return str(tmp_path / "trade.parquet"), str(tmp_path / "production.parquet"), str(tmp_path / "commodities.csv")


def test_year_rule_reads_coverage_and_world_check(tmp_path: Path) -> None:
    trade, production, commodities = write_inputs(tmp_path)
    coverage = pd.DataFrame({"reporter": ["A", "B"], "flow": ["M", "X"]})
    world = pd.DataFrame({"reporter": ["A"], "flow": ["M"], "cmd_code": ["000001"], "world_qty_t": [200.0],
                          "partners_qty_t": [20.0]})  # fmt: skip
    coverage.to_parquet(tmp_path / "coverage.parquet")
    world.to_parquet(tmp_path / "world.parquet")
    outputs = {name: str(tmp_path / "out" / f"{name}.parquet") for name in YEAR_OUTPUTS}
    run_mfa_year(trade, production, commodities, 2020, CONFIG, outputs,
                 str(tmp_path / "coverage.parquet"), str(tmp_path / "world.parquet"))  # fmt: skip
    table = load_commodities(commodities)
    expected = year_balance(
        toy_trade(), toy_production(), table, 2020, CONFIG,
        reported=reported_flows(coverage), partial=partial_flows(world, table),
    ).balance_table  # fmt: skip
    got = pd.read_parquet(outputs["balance"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)
    assert (got["unreported_flows"] != "").any()


def test_collect_rule_stacks_every_year_table(tmp_path: Path) -> None:
    trade, production, commodities = write_inputs(tmp_path)
    per_year = {name: str(tmp_path / "2020" / f"{name}.parquet") for name in YEAR_OUTPUTS}
    run_mfa_year(trade, production, commodities, 2020, CONFIG, per_year)
    inputs = {name: [path] for name, path in per_year.items()}
    names = ["balance", "flows", "origins", "indicators", "disruption", "mass_balance", "headline"]
    suffix = {"balance": "parquet", "flows": "parquet", "origins": "parquet"}
    outputs = {name: str(tmp_path / "results" / f"{name}.{suffix.get(name, 'csv')}") for name in names}
    collect_mfa(inputs, outputs)
    for name, out_name in [("balance", "balance"), ("flows", "flows"), ("origins", "origins")]:
        got, want = pd.read_parquet(outputs[out_name]), pd.read_parquet(per_year[name])
        assert got.shape == want.shape and got.columns.tolist() == want.columns.tolist()
    for name, out_name in [("indicators", "indicators"), ("disruption", "disruption"), ("residuals", "mass_balance")]:
        got, want = pd.read_csv(outputs[out_name]), pd.read_parquet(per_year[name])
        assert len(got) == len(want) and got.columns.tolist() == want.columns.tolist()
    headline = pd.read_csv(outputs["headline"])
    assert headline["year"].tolist() == [2020]


def test_without_coverage_every_flow_counts_as_reported() -> None:
    countries = ["A", "B", "C"]
    everything = {(c, flow) for c in countries for flow in ("imports", "exports")}
    default = year_balance(toy_trade(), toy_production(), toy_commodities(), 2020, CONFIG).balance_table
    explicit = year_balance(toy_trade(), toy_production(), toy_commodities(), 2020, CONFIG,
                            reported=everything).balance_table  # fmt: skip
    assert default["unreported_flows"].tolist() == explicit["unreported_flows"].tolist()
