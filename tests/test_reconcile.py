"""reeflow.clean.reconcile: mirror rules, reliability weights, the trade table, discrepancies (SYNTHETIC + real)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_trade import CHN, COMMODITIES, DEU, HKG, JPN, USA, WORLD, v1_record

from reeflow.acquire.raw import read_comtrade_file
from reeflow.clean import hs
from reeflow.clean.declarations import reported_from_records
from reeflow.clean.reconcile import (
    RULES,
    choice_basis,
    choose_quantity,
    discrepancies,
    importer_weights,
    reconcile,
)
from reeflow.commodities import cleaning_records, load_commodities
from reeflow.io import ReeflowError
from reeflow.schemas import TRADE_SCHEMA, validate_table

NAN = np.nan
ROOT = Path(__file__).resolve().parents[1]


def trade_of(*records: dict, rule: str = "importer_first", factor: float = 2.0) -> pd.DataFrame:
    rep, _ = reported_from_records(pd.DataFrame.from_records(list(records)), COMMODITIES, "synthetic.json")
    trade = reconcile(rep, hs.commodity_frame(COMMODITIES), rule, factor)
    return validate_table(trade, TRADE_SCHEMA, "trade")


# --------------------------------------------------------------------------------------------
# choose_quantity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("importer_first", [10.0, 4.0, 7.0, NAN]),
        ("exporter_first", [30.0, 4.0, 7.0, NAN]),
        ("max", [30.0, 4.0, 7.0, NAN]),
        ("weighted_mean", [0.25 * 10 + 0.75 * 30, 4.0, 7.0, NAN]),
    ],
)
def test_each_rule_and_one_sided_flows_take_the_side_that_exists(rule: str, expected: list[float]) -> None:
    q_imp = [10.0, NAN, 7.0, NAN]
    q_exp = [30.0, 4.0, NAN, NAN]
    got = choose_quantity(q_imp, q_exp, rule, w_imp=np.full(4, 0.25))
    np.testing.assert_allclose(got, expected)


def test_rule_may_differ_per_draw_by_broadcasting() -> None:
    q_imp = np.array([[10.0, NAN], [10.0, NAN], [10.0, 2.0]])  # (draws, flows)
    q_exp = np.array([[30.0, 4.0], [30.0, 4.0], [30.0, 6.0]])
    rules = np.array(["importer_first", "max", "exporter_first"])[:, None]
    got = choose_quantity(q_imp, q_exp, rules)
    np.testing.assert_allclose(got, [[10.0, 4.0], [30.0, 4.0], [30.0, 6.0]])
    single = [choose_quantity(q_imp[i], q_exp[i], str(rules[i, 0])) for i in range(3)]
    np.testing.assert_allclose(got, np.vstack(single))


def test_unknown_rule_is_a_config_error() -> None:
    with pytest.raises(ReeflowError, match="mirror_rule"):
        choose_quantity([1.0], [2.0], "average")
    with pytest.raises(ReeflowError, match="mirror_rule"):
        choose_quantity([1.0], [2.0], np.array(["max", "median"]))


finite = st.floats(0.001, 1e9)
maybe = st.one_of(st.just(NAN), finite)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(float, 8, elements=maybe), hnp.arrays(float, 8, elements=maybe),
    hnp.arrays(float, 8, elements=st.floats(0, 1)), st.sampled_from(RULES),
)  # fmt: skip
def test_chosen_quantity_lies_between_the_declarations(qi: np.ndarray, qe: np.ndarray, w: np.ndarray,
                                                       rule: str) -> None:  # fmt: skip
    got = choose_quantity(qi, qe, rule, w)
    lo, hi = np.fmin(qi, qe), np.fmax(qi, qe)
    assert np.array_equal(np.isnan(got), np.isnan(qi) & np.isnan(qe))
    ok = ~np.isnan(got)
    assert np.all(got[ok] >= lo[ok] * (1 - 1e-12)) and np.all(got[ok] <= hi[ok] * (1 + 1e-12))
    basis = choice_basis(qi, qe, rule)
    one = np.isnan(qi) ^ np.isnan(qe)
    assert set(basis[one & ~np.isnan(qi)]) <= {"importer"} and set(basis[one & ~np.isnan(qe)]) <= {"exporter"}


def test_reliability_weights_trust_the_reporter_that_agrees_with_its_partners() -> None:
    # CHN's exports disagree with every importer's mirror; the others agree among themselves.
    exporters = ["CHN", "CHN", "CHN", "JPN", "DEU", "JPN", "USA"]
    importers = ["JPN", "DEU", "USA", "USA", "USA", "DEU", "JPN"]
    q_imp = np.array([100.0, 100.0, 100.0, 50.0, 20.0, 10.0, 5.0])
    q_exp = np.array([400.0, 20.0, 900.0, 51.0, 19.0, 10.5, 5.0])
    w = importer_weights(exporters, importers, q_imp, q_exp)
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(w[:3] > 0.5)  # flows out of CHN: the importer's figure weighs more
    assert w[:3].min() > w[3:].max()
    assert np.allclose(importer_weights(["A"], ["B"], [NAN], [3.0]), 0.5)  # nothing to learn from


# --------------------------------------------------------------------------------------------
# reconcile: reported -> trade
# --------------------------------------------------------------------------------------------


def test_mirror_declarations_become_one_flow_with_both_sides_kept() -> None:
    trade = trade_of(
        v1_record(reporter=USA, partner=CHN, flow="X", kg=60_000_000.0, usd=9e7),
        v1_record(reporter=CHN, partner=USA, flow="M", kg=20_000.0, usd=6e6),
        v1_record(reporter=USA, partner=WORLD, flow="X", kg=70_000_000.0, usd=1e8),
    )
    row = trade.iloc[0]
    assert len(trade) == 1 and (row["exporter"], row["importer"], row["hs6"]) == ("USA", "CHN", "2846")
    assert row["qty_t"] == pytest.approx(20.0) and row["basis"] == "importer"
    assert (row["qty_t_importer"], row["qty_t_exporter"]) == pytest.approx((20.0, 60_000.0))
    assert (row["value_usd_importer"], row["value_usd_exporter"]) == (6e6, 9e7)
    assert row["discrepancy_ratio"] == pytest.approx(3000.0) and row["disputed"] and not row["one_sided"]
    assert row["stage"] == "separation" and not row["reexport"] and not row["hk_roundtrip"]


@pytest.mark.parametrize("rule", RULES)
def test_the_rule_changes_the_choice_never_the_declarations(rule: str) -> None:
    trade = trade_of(
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=1000.0),
        v1_record(reporter=DEU, partner=JPN, flow="M", kg=1500.0),
        rule=rule,
    )
    assert (trade["qty_t_importer"].item(), trade["qty_t_exporter"].item()) == (1.5, 1.0)
    expected = {"importer_first": 1.5, "exporter_first": 1.0, "max": 1.5}.get(rule)
    if expected is not None:
        assert trade["qty_t"].item() == pytest.approx(expected)
    else:
        assert 1.0 < trade["qty_t"].item() < 1.5
    assert not trade["disputed"].item()  # 1.5 < discrepancy_factor 2


def test_one_sided_reexport_self_trade_hk_and_non_country_flows() -> None:
    trade = trade_of(
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=5000.0),  # one-sided export
        v1_record(reporter=HKG, partner=USA, flow="RX", kg=3000.0),  # re-export
        v1_record(reporter=CHN, partner=CHN, flow="M", kg=800.0),  # China importing "from China"
        v1_record(reporter=CHN, partner=HKG, flow="X", kg=9000.0),
        v1_record(reporter=HKG, partner=CHN, flow="M", kg=8000.0),
        v1_record(reporter=USA, partner=899, flow="M", kg=4000.0),  # areas nes: not a bilateral flow
    ).set_index(["exporter", "importer"])
    assert len(trade) == 4
    one = trade.loc[("JPN", "DEU")]
    assert one["one_sided"] and one["basis"] == "exporter" and one["qty_t"] == 5.0 and np.isnan(one["qty_t_importer"])
    assert trade.loc[("HKG", "USA"), "reexport"] and trade.loc[("CHN", "CHN"), "reexport"]
    assert trade.loc[("CHN", "HKG"), "hk_roundtrip"] and not trade.loc[("CHN", "HKG"), "reexport"]
    assert not trade.loc[("JPN", "DEU"), "hk_roundtrip"]


def test_codes_mapping_to_one_table_row_are_summed_per_side() -> None:
    trade = trade_of(
        v1_record(reporter=USA, partner=JPN, flow="X", cmd="284690", kg=1000.0),
        v1_record(reporter=USA, partner=JPN, flow="X", cmd="284610", kg=2000.0),  # -> heading 2846
        v1_record(reporter=USA, partner=JPN, flow="X", cmd="2846", kg=3000.0),  # aggregate of both: dropped
        v1_record(reporter=JPN, partner=USA, flow="M", cmd="2846", kg=2000.0),  # JPN reports the heading only
    ).set_index("hs6")
    assert trade.loc["284690", "qty_t_exporter"] == 1.0
    assert trade.loc["2846", "qty_t_exporter"] == 2.0 and trade.loc["2846", "qty_t_importer"] == 2.0


def test_imputed_flag_follows_the_side_used() -> None:
    records = [
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=1000.0, usd=10_000.0),
        v1_record(reporter=DEU, partner=JPN, flow="M", kg=None, qty=None, usd=20_000.0),  # imputed 2 t
    ]
    by_importer = trade_of(*records, rule="importer_first")
    by_exporter = trade_of(*records, rule="exporter_first")
    assert by_importer["imputed"].item() and by_importer["qty_t"].item() == pytest.approx(2.0)
    assert not by_exporter["imputed"].item() and by_exporter["qty_t"].item() == pytest.approx(1.0)
    for trade in (by_importer, by_exporter):  # the per-side flags do not depend on the rule
        assert trade["imputed_importer"].item() and not trade["imputed_exporter"].item()


def test_discrepancy_table_lists_disputed_and_large_one_sided_flows() -> None:
    trade = trade_of(
        v1_record(reporter=USA, partner=CHN, flow="X", kg=60_000_000.0),
        v1_record(reporter=CHN, partner=USA, flow="M", kg=20_000.0),
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=500_000.0),  # 500 t one-sided
        v1_record(reporter=JPN, partner=USA, flow="X", kg=5_000.0),  # 5 t one-sided: below the threshold
    )
    table = discrepancies(trade, large_flow_t=100.0).set_index(["exporter", "importer"])
    assert table.loc[("USA", "CHN"), "reason"] == "disputed"
    assert table.loc[("USA", "CHN"), "qty_t_exporter"] == pytest.approx(60_000.0)
    assert table.loc[("JPN", "DEU"), "reason"] == "one_sided_large"
    assert ("JPN", "USA") not in table.index


def test_bad_discrepancy_factor_is_rejected() -> None:
    with pytest.raises(ReeflowError, match="discrepancy_factor"):
        trade_of(v1_record(), factor=1.0)


# --------------------------------------------------------------------------------------------
# Boundaries: the discrepancy factor itself, zero quantities, one-sided flows
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kg_importer", "disputed"), [(2000.0, False), (2001.0, True)])
def test_a_ratio_exactly_at_the_factor_is_not_disputed(kg_importer: float, disputed: bool) -> None:
    """disputed means ratio *above* trade.discrepancy_factor: 2.0 with factor 2 is not, 2.001 is."""
    trade = trade_of(
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=1000.0),
        v1_record(reporter=DEU, partner=JPN, flow="M", kg=kg_importer),
        factor=2.0,
    )
    assert trade["discrepancy_ratio"].item() == pytest.approx(kg_importer / 1000.0)
    assert trade["disputed"].item() is disputed
    assert (discrepancies(trade, 100.0)["reason"] == "disputed").sum() == int(disputed)


@pytest.mark.parametrize("rule", RULES)
def test_a_zero_weight_declaration_is_no_quantity(rule: str) -> None:
    """Comtrade writes 0 kg for an unknown weight: without a value it is missing, so every rule takes the
    other side, and no ratio (0 or infinite) is computed; with a value the weight is imputed."""
    trade = trade_of(
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=5000.0),
        v1_record(reporter=DEU, partner=JPN, flow="M", kg=0.0, usd=0.0),
        rule=rule,
    )
    row = trade.iloc[0]
    assert np.isnan(row["qty_t_importer"]) and row["qty_t"] == 5.0 and row["basis"] == "exporter"
    assert np.isnan(row["discrepancy_ratio"]) and not row["disputed"] and not row["one_sided"]
    both_zero = trade_of(
        v1_record(reporter=JPN, partner=DEU, flow="X", kg=0.0, usd=0.0),
        v1_record(reporter=DEU, partner=JPN, flow="M", kg=0.0, usd=0.0),
        rule=rule,
    )
    assert np.isnan(both_zero["qty_t"].item()) and not both_zero["disputed"].item()


@pytest.mark.parametrize("rule", RULES)
def test_zero_is_a_declaration_for_choose_quantity(rule: str) -> None:
    """At the choice itself 0 t is a declared quantity (only NaN is missing)."""
    got = choose_quantity([0.0, 0.0], [5.0, 0.0], rule, w_imp=np.full(2, 0.25))
    expected = {"importer_first": 0.0, "exporter_first": 5.0, "max": 5.0, "weighted_mean": 0.75 * 5.0}[rule]
    np.testing.assert_allclose(got, [expected, 0.0])
    np.testing.assert_allclose(importer_weights(["A", "B"], ["B", "A"], [0.0, 0.0], [5.0, 0.0]), [0.5, 0.5])


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("side", ["importer", "exporter"])
def test_one_sided_flows_take_the_declared_side_under_every_rule(rule: str, side: str) -> None:
    record = (v1_record(reporter=DEU, partner=JPN, flow="M", kg=7000.0) if side == "importer"
              else v1_record(reporter=JPN, partner=DEU, flow="X", kg=7000.0))  # fmt: skip
    row = trade_of(record, rule=rule).iloc[0]
    other = "exporter" if side == "importer" else "importer"
    assert row["one_sided"] and row["basis"] == side and row["qty_t"] == 7.0
    assert row[f"qty_t_{side}"] == 7.0 and np.isnan(row[f"qty_t_{other}"])
    assert np.isnan(row["discrepancy_ratio"]) and not row["disputed"]
    assert not row["imputed_importer"] and not row["imputed_exporter"]
    assert choice_basis([7.0 if side == "importer" else NAN], [7.0 if side == "exporter" else NAN], rule) == [side]


# --------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------


@pytest.fixture
def real_trade(real_data: Path) -> pd.DataFrame:
    table = load_commodities(ROOT / "config" / "commodities.csv")
    commodities = cleaning_records(table)
    records = read_comtrade_file(real_data / "comtrade" / "usa-china-2020-2024" / "usa-china-2846-280530.csv")
    rep, _ = reported_from_records(records, commodities, "usa-china.csv")
    return validate_table(reconcile(rep, hs.commodity_frame(commodities), "importer_first", 2.0), TRADE_SCHEMA, "t")


def test_real_usa_china_2846_mirror_gap_is_disputed_with_both_sides(real_trade: pd.DataFrame) -> None:
    usa_chn = real_trade[(real_trade["exporter"] == "USA") & (real_trade["importer"] == "CHN")
                         & (real_trade["hs6"] == "2846") & real_trade["year"].between(2020, 2022)]  # fmt: skip
    assert len(usa_chn) == 3
    assert usa_chn["qty_t_exporter"].between(55_000, 80_000).all()  # USA: ~60-75 kt to China
    assert (usa_chn["qty_t_importer"] < usa_chn["qty_t_exporter"] / 5).all()  # China: far less
    assert usa_chn["disputed"].all() and (usa_chn["discrepancy_ratio"] > 5).all()
    listed = discrepancies(real_trade, 100.0)
    assert set(listed.loc[(listed["exporter"] == "USA") & (listed["hs6"] == "2846"), "year"]) >= {2020, 2021, 2022}


def test_real_280530_rows_are_the_metal_stage(real_trade: pd.DataFrame) -> None:
    metal = real_trade[real_trade["hs6"] == "280530"]
    assert len(metal) == 10 and (metal["stage"] == "metal").all()
    assert set(real_trade.loc[real_trade["hs6"] == "2846", "stage"]) == {"separation"}
