"""The per-year balance: REO-eq of flows, production from upstream consumption, clipping, checks.

Toy world (SYNTHETIC, hand-computed): countries A, B, C; trade at two stages (mining, separation).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.commodities import STAGES
from reeflow.io import ReeflowError
from reeflow.mfa.balance import (
    BALANCE_COLUMNS,
    FLOW_COLUMNS,
    YEAR_OUTPUTS,
    balance_arrays,
    check_balance,
    reo_flow_arrays,
    reo_flows,
    run_mfa_year,
    trade_totals,
    unexplained_residuals,
    year_balance,
)
from reeflow.settings import MfaSettings
from workflow_helpers import make_demo_dir, planned_jobs, snakemake

YIELDS = {"separation": 0.5, "metal": 0.8, "intermediate": 0.9, "final": 1.0}
CONFIG = MfaSettings.from_mapping({
    "yields": YIELDS,
    "negative_consumption": "clip_and_report",
    "balance_tolerance": 1e-6,
    "disruption_links": [["A", "B"]],
    "disruption_exporters": [],
    "top_partners": 5,
})


def toy_commodities() -> pd.DataFrame:
    """SYNTHETIC commodity table: one code per stage used, plus an item-based final good."""
    return pd.DataFrame(
        {
            "hs_code": ["000001", "000002", "000003"],
            "stage": ["mining", "separation", "final"],
            "unit_basis": ["t", "t", "item"],
            "item_mass_t": [np.nan, np.nan, 2.0],
            "content_central": [0.5, 1.0, 0.01],
            "share_central": [1.0, 1.0, 0.5],
            "product": ["", "", "cars"],
        }
    )


def trade_rows(rows: list[tuple[str, str, str, float]], **extra: object) -> pd.DataFrame:
    """SYNTHETIC cleaned trade: (exporter, importer, hs6, qty_t), importer basis, no re-exports."""
    frame = pd.DataFrame(rows, columns=["exporter", "importer", "hs6", "qty_t"])
    frame = frame.assign(qty_items=np.nan, basis="importer", reexport=False, year=2020)
    return frame.assign(**extra) if extra else frame


def toy_trade() -> pd.DataFrame:
    # mining code has content 0.5: goods tonnes are twice the REO-eq flows A->B 60, B->C 20, C->A 10
    return trade_rows(
        [
            ("A", "B", "000001", 120.0),
            ("B", "C", "000001", 40.0),
            ("C", "A", "000001", 20.0),
            ("B", "C", "000002", 10.0),
            ("A", "B", "000002", 5.0),
        ]
    )


def toy_production() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": [2020, 2020, 2020, 2019],
            "country": ["A", "C", "WLD", "B"],
            "stage": "mining",
            "value_t_reo": [100.0, 50.0, 150.0, 999.0],
        }
    )


def test_reo_of_a_flow_is_quantity_times_content_times_share() -> None:
    trade = trade_rows([("A", "B", "000001", 10.0), ("A", "B", "000003", 6.0), ("B", "A", "000003", 8.0)])
    trade.loc[2, "qty_items"] = 5.0  # a count wins over tonnes / item mass
    flows = reo_flows(trade, toy_commodities(), year=2020)
    got = flows.set_index(["exporter", "hs6"])["reo_t"]
    assert got[("A", "000001")] == pytest.approx(10.0 * 0.5 * 1.0)
    assert got[("A", "000003")] == pytest.approx(6.0 / 2.0 * 0.01 * 0.5)  # items from mass
    assert got[("B", "000003")] == pytest.approx(5.0 * 0.01 * 0.5)
    assert list(flows.columns) == FLOW_COLUMNS
    assert set(flows["stage"]) == {"mining", "final"}


def test_reexports_self_trade_world_and_unknown_codes_stay_out() -> None:
    trade = trade_rows(
        [
            ("A", "B", "000001", 10.0),
            ("A", "B", "000001", 7.0),
            ("A", "A", "000001", 3.0),
            ("A", "WLD", "000001", 4.0),
            ("A", "B", "999999", 5.0),
        ]
    )
    trade.loc[1, "reexport"] = True
    flows = reo_flows(trade, toy_commodities(), year=2020)
    assert flows["reo_t"].sum() == pytest.approx(5.0)


def test_draws_give_one_column_each_and_match_the_central_case() -> None:
    units = np.array([10.0, 4.0, 2.0])
    code_idx = np.array([0, 1, 0])
    content = np.array([[0.5, 0.6], [1.0, 0.9]])
    share = np.array([[1.0, 0.5], [1.0, 1.0]])
    out = reo_flow_arrays(units, code_idx, content, share)
    assert out.shape == (3, 2)
    for d in range(2):
        np.testing.assert_allclose(out[:, d], reo_flow_arrays(units, code_idx, content[:, d], share[:, d]))


def test_toy_balance_matches_hand_computation() -> None:
    result = year_balance(toy_trade(), toy_production(), toy_commodities(), 2020, CONFIG)
    b = result.balance_table.set_index(["country", "stage"])
    assert list(result.balance_table.columns) == BALANCE_COLUMNS
    # mining: A 100 + 10 - 60 = 50; B 0 + 60 - 20 = 40; C 50 + 20 - 10 = 60 (WLD and 2019 ignored)
    assert b.loc[("A", "mining"), "apparent_consumption_t"] == pytest.approx(50)
    assert b.loc[("B", "mining"), "apparent_consumption_t"] == pytest.approx(40)
    assert b.loc[("C", "mining"), "production_t"] == pytest.approx(50)
    assert b.loc[("B", "mining"), "production_basis"] == "none"
    # separation production = mining consumption x 0.5, losses the rest
    assert b.loc[("A", "separation"), "production_t"] == pytest.approx(25)
    assert b.loc[("C", "separation"), "losses_t"] == pytest.approx(30)
    assert b.loc[("B", "separation"), "apparent_consumption_t"] == pytest.approx(20 + 5 - 10)
    assert b.loc[("C", "separation"), "net_exports_t"] == pytest.approx(-10)
    # no trade downstream: metal = separation consumption x 0.8, and so on
    assert b.loc[("C", "metal"), "production_t"] == pytest.approx(40 * 0.8)
    assert b.loc[("C", "final"), "apparent_consumption_t"] == pytest.approx(40 * 0.8 * 0.9 * 1.0)
    assert result.residuals.empty


@pytest.mark.parametrize("rule", ["clip_and_report", "keep"])
def test_negative_consumption_is_reported_never_hidden(rule: str) -> None:
    # C exports 50 at separation but has only 30 + 10
    trade = pd.concat([toy_trade(), trade_rows([("C", "A", "000002", 50.0)])], ignore_index=True)
    result = year_balance(
        trade, toy_production(), toy_commodities(), 2020, dataclasses.replace(CONFIG, negative_consumption=rule)
    )
    b = result.balance_table.set_index(["country", "stage"])
    residual = result.residuals.set_index(["country", "stage"])
    assert residual.loc[("C", "separation"), "residual_t"] == pytest.approx(10)
    assert "exports exceed production + imports" in residual.loc[("C", "separation"), "reason"]
    expected = 0.0 if rule == "clip_and_report" else -10.0
    assert b.loc[("C", "separation"), "apparent_consumption_t"] == pytest.approx(expected)
    assert b.loc[("C", "metal"), "production_t"] == pytest.approx(0.0)  # production is never negative


def test_unexplained_residual_names_year_country_and_stage() -> None:
    imports = np.zeros((5, 3))
    imports[2, 1] = np.nan
    balance = balance_arrays(np.array([1.0, 2.0, 3.0]), imports, np.zeros((5, 3)), np.ones(5))
    with pytest.raises(ReeflowError, match=r"2017.*B metal"):
        check_balance(balance, np.ones(5), 1e-6, ["A", "B", "C"], 2017)


def test_bad_inputs_name_the_file_and_column() -> None:
    with pytest.raises(ReeflowError, match="trade/2020.parquet.*reexport"):
        year_balance(
            toy_trade().drop(columns="reexport"),
            toy_production(),
            toy_commodities(),
            2020,
            CONFIG,
            trade_source="trade/2020.parquet",
        )
    production = toy_production()
    production.loc[0, "value_t_reo"] = -5.0
    with pytest.raises(ReeflowError, match="production.parquet.*value_t_reo.*A"):
        year_balance(
            toy_trade(), production, toy_commodities(), 2020, CONFIG, production_source="production.parquet"
        )
    with pytest.raises(ReeflowError, match="negative_consumption"):
        year_balance(
            toy_trade(),
            toy_production(),
            toy_commodities(),
            2020,
            dataclasses.replace(CONFIG, negative_consumption="ignore"),
        )


def test_vectorised_balance_equals_one_draw_at_a_time() -> None:
    rng = np.random.default_rng(3)
    imports, exports = rng.uniform(0, 50, (2, 5, 4, 6))
    mining = rng.uniform(0, 100, 4)
    yields = rng.uniform(0.5, 1.0, (5, 6))
    many = balance_arrays(mining, imports, exports, yields)
    for d in range(6):
        one = balance_arrays(mining, imports[..., d], exports[..., d], yields[:, d])
        np.testing.assert_allclose(many.apparent[..., d], one.apparent)
        np.testing.assert_allclose(many.losses[..., d], one.losses)


flow_lists = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.floats(0, 1e5)), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(
    flows=flow_lists,
    mining=st.lists(st.floats(0, 1e5), min_size=5, max_size=5),
    clip=st.booleans(),
    y=st.floats(0.1, 1.0),
)
def test_mass_is_conserved_on_random_networks(flows: list, mining: list, clip: bool, y: float) -> None:
    """World consumption = world production at each stage; each stage's input = output + losses."""
    flows = [f for f in flows if f[0] != f[1]]
    exp, imp, stage = (np.array([f[i] for f in flows], dtype=int) for i in (0, 1, 2))
    reo = np.array([f[3] for f in flows], dtype=float)
    imports, exports = trade_totals(reo, stage, exp, imp, 5)
    yields = np.array([1.0, y, y, y, y])
    b = balance_arrays(np.array(mining), imports, exports, yields, clip=clip)
    check_balance(b, yields, 1e-6 * max(1.0, reo.sum(), sum(mining)), list("ABCDE"), 2000)
    world_in = (b.production + b.imports - b.exports).sum(axis=1)
    np.testing.assert_allclose(world_in, b.production.sum(axis=1), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(
        b.feed[:-1].sum(axis=1), (b.production[1:] + b.losses[1:]).sum(axis=1), rtol=1e-9, atol=1e-6
    )
    assert (b.production >= 0).all() and (b.feed >= 0).all()
    if clip:
        assert (b.apparent >= 0).all()


# ---------------------------------------------------------------------------------------------
# Production statistics of the stages after mining
# ---------------------------------------------------------------------------------------------


def with_statistics(rows: list[tuple[str, str, float]], production: pd.DataFrame | None = None) -> pd.DataFrame:
    """SYNTHETIC production table plus stage statistics (country, stage, value_t_reo) in 2020."""
    stats = pd.DataFrame(rows, columns=["country", "stage", "value_t_reo"]).assign(year=2020)
    return pd.concat([toy_production() if production is None else production, stats], ignore_index=True)


def test_zero_separation_statistic_sends_the_feed_to_unprocessed() -> None:
    # A mines 100 and exports 60 (120 t of goods at content 0.5): 40 stay, yet A separates nothing.
    trade = trade_rows([("A", "B", "000001", 120.0)])
    mined = pd.DataFrame({"year": [2020], "country": ["A"], "stage": "mining", "value_t_reo": [100.0]})
    result = year_balance(trade, with_statistics([("A", "separation", 0.0)], mined), toy_commodities(), 2020, CONFIG)
    b = result.balance_table.set_index(["country", "stage"])
    assert list(result.balance_table.columns) == BALANCE_COLUMNS
    assert b.loc[("A", "separation"), "production_t"] == 0.0
    assert b.loc[("A", "separation"), "production_basis"] == "statistic"
    assert b.loc[("A", "separation"), "unprocessed_t"] == pytest.approx(40 * 0.5)  # the rest, after the yield
    assert b.loc[("A", "separation"), "losses_t"] == pytest.approx(40 * 0.5)
    assert b.loc[("A", "metal"), "production_t"] == 0.0  # nothing downstream of a country that does not separate
    assert b.loc[("B", "separation"), "production_t"] == pytest.approx(60 * 0.5)  # the importer separates
    assert b.loc[("B", "separation"), "production_basis"] == "derived"
    assert b.loc[("B", "separation"), "unprocessed_t"] == 0.0
    residual = result.residuals.set_index(["country", "stage", "kind"])
    gap = residual.loc[("A", "separation", "statistic_vs_yield")]
    assert gap["residual_t"] == pytest.approx(-20.0) and "unprocessed_t" in gap["reason"]
    # mining feed 40 = separation production 0 + losses 20 + unprocessed 20: the balance closes
    assert unexplained_residuals(result.balance, [1.0, 0.5, 0.8, 0.9, 1.0]).max() < 1e-9
    world = result.balance_table.groupby("stage")[["production_t", "losses_t", "unprocessed_t"]].sum()
    assert world.loc["separation"].sum() == pytest.approx(100.0)  # all mined REO is accounted for


@pytest.mark.parametrize(("quota", "production", "excess"), [(10.0, 0.5 * 40, 0.0), (30.0, 30.0, 10.0)])
def test_a_quota_is_a_floor_not_a_measurement(quota: float, production: float, excess: float) -> None:
    # A keeps 40 t REO of concentrate (derived separation 20 t at yield 0.5). A quota below that is
    # no cap on what imported ore adds: production stays derived; a quota above it is taken as output.
    trade = trade_rows([("A", "B", "000001", 120.0)])
    mined = pd.DataFrame({"year": [2020], "country": ["A"], "stage": "mining", "value_t_reo": [100.0]})
    quota_row = pd.DataFrame({"year": [2020], "country": ["A"], "stage": ["separation"], "value_t_reo": [quota],
                              "flag": ["quota"]})  # fmt: skip
    result = year_balance(trade, pd.concat([mined.assign(flag=""), quota_row]), toy_commodities(), 2020, CONFIG)
    row = result.balance_table.set_index(["country", "stage"]).loc[("A", "separation")]
    assert row["production_t"] == pytest.approx(production)
    assert row["production_basis"] == "floor" and row["unprocessed_t"] == 0.0
    assert result.balance.statistic_gap[1, result.countries.index("A")] == pytest.approx(excess)
    assert unexplained_residuals(result.balance, [1.0, 0.5, 0.8, 0.9, 1.0]).max() < 1e-9


def test_all_concentrate_exported_leaves_nothing_unprocessed() -> None:
    trade = trade_rows([("A", "B", "000001", 200.0)])  # all of A's 100 t REO leaves
    mined = pd.DataFrame({"year": [2020], "country": ["A"], "stage": "mining", "value_t_reo": [100.0]})
    result = year_balance(trade, with_statistics([("A", "separation", 0.0)], mined), toy_commodities(), 2020, CONFIG)
    b = result.balance_table.set_index(["country", "stage"])
    assert b.loc[("A", "separation"), ["production_t", "unprocessed_t", "losses_t"]].tolist() == [0.0, 0.0, 0.0]
    assert b.loc[("B", "separation"), "production_t"] == pytest.approx(50.0)
    assert result.residuals.empty  # the statistic agrees with the (empty) feed


def test_statistic_above_the_feed_is_listed_with_its_own_reason() -> None:
    # C: mining consumption 60 x 0.5 = 30 derived; the statistic says 100
    result = year_balance(toy_trade(), with_statistics([("C", "separation", 100.0)]), toy_commodities(), 2020, CONFIG)
    b = result.balance_table.set_index(["country", "stage"])
    assert b.loc[("C", "separation"), "production_t"] == 100.0
    assert b.loc[("C", "separation"), "unprocessed_t"] == 0.0
    assert b.loc[("C", "separation"), "losses_t"] == pytest.approx(30.0)
    assert b.loc[("C", "metal"), "production_t"] == pytest.approx((100 + 10) * 0.8)  # downstream from the statistic
    residual = result.residuals.set_index(["country", "stage"])
    assert residual.loc[("C", "separation"), "residual_t"] == pytest.approx(70.0)
    assert "inputs missing from the data" in residual.loc[("C", "separation"), "reason"]
    # every other stage and country stays derived, as before
    assert b.loc[("A", "separation"), "production_t"] == pytest.approx(25.0)
    assert b.loc[("A", "separation"), "production_basis"] == "derived"


def test_a_statistic_for_a_country_without_trade_or_mines_still_counts() -> None:
    result = year_balance(toy_trade(), with_statistics([("D", "metal", 7.0)]), toy_commodities(), 2020, CONFIG)
    b = result.balance_table.set_index(["country", "stage"])
    assert b.loc[("D", "metal"), "production_t"] == 7.0 and b.loc[("D", "mining"), "production_basis"] == "none"
    assert result.residuals.set_index(["country", "stage"]).loc[("D", "metal"), "residual_t"] == 7.0


def test_a_year_without_mine_production_is_an_error() -> None:
    with pytest.raises(ReeflowError, match=r"production.parquet: no mine production for 2021.*MCS edition.*years.end"):
        year_balance(toy_trade(), toy_production(), toy_commodities(), 2021, CONFIG,
                     production_source="production.parquet")  # fmt: skip


def test_random_statistics_keep_the_mass_balance_closed() -> None:
    rng = np.random.default_rng(11)
    imports, exports = rng.uniform(0, 50, (2, 5, 6))
    mining = rng.uniform(0, 100, 6)
    yields = np.array([1.0, 0.9, 0.8, 0.9, 0.95])
    stats = np.where(rng.random((5, 6)) < 0.5, rng.uniform(0, 150, (5, 6)), np.nan)
    b = balance_arrays(mining, imports, exports, yields, production_stats=stats)
    check_balance(b, yields, 1e-9, list("ABCDEF"), 2000)
    assert (b.unprocessed >= 0).all() and (b.unprocessed[~np.isfinite(stats)] == 0).all()
    excess = np.maximum(b.statistic_gap, 0)
    np.testing.assert_allclose(
        b.feed[:-1].sum(axis=1), (b.production[1:] + b.losses[1:] + b.unprocessed[1:] - excess[1:]).sum(axis=1)
    )
    broken = balance_arrays(mining, imports, exports, yields, production_stats=stats)
    broken.unprocessed[1, 0] += 1.0  # feed that vanished
    with pytest.raises(ReeflowError, match="A separation"):
        check_balance(broken, yields, 1e-6, list("ABCDEF"), 2000)


def test_year_rule_writes_every_table(tmp_path: Path) -> None:
    toy_trade().to_parquet(tmp_path / "trade.parquet")
    toy_production().to_parquet(tmp_path / "production.parquet")
    table = toy_commodities().assign(
        description="SYNTHETIC",
        content_low=0.0,
        content_high=2.0,
        share_low=0.0,
        share_high=1.0,
        revisions="",
        include="true",
        citation="SYNTHETIC toy",
    )
    table.to_csv(tmp_path / "commodities.csv", index=False)
    outputs = {name: str(tmp_path / "out" / f"{name}.parquet") for name in YEAR_OUTPUTS}
    run_mfa_year(
        str(tmp_path / "trade.parquet"),
        str(tmp_path / "production.parquet"),
        str(tmp_path / "commodities.csv"),
        2020,
        CONFIG,
        outputs,
    )
    balance = pd.read_parquet(outputs["balance"])
    assert len(balance) == 3 * len(STAGES)
    origins = pd.read_parquet(outputs["origins"])
    assert np.allclose(origins.groupby(["stage", "country"])["share"].sum(), 1.0)
    disruption = pd.read_parquet(outputs["disruption"])
    b_mining = disruption.query("country == 'B' and stage == 'mining'")
    assert b_mining["shortfall_share"].iloc[0] == pytest.approx(1.0)  # all of B's ore crossed A->B


@pytest.mark.workflow
def test_year_job_depends_only_on_its_own_trade_file(tmp_path: Path) -> None:
    """A dry run for one year's MFA plans that year's trade cleaning and nothing for other years."""
    work = make_demo_dir(tmp_path)
    run = snakemake(work, "-n", "resources/mfa/2019/balance.parquet")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run)
    assert jobs.get("mfa_year") == 1 and jobs.get("clean_trade") == 1 and jobs.get("download_comtrade") == 1
    assert "resources/clean/trade/2019.parquet" in run.stdout
    for other in (2018, 2020, 2021):
        assert f"resources/clean/trade/{other}.parquet" not in run.stdout
