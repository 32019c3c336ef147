"""Hand-built cases for reeflow.clean.reconcile that kill the mutants `make mutation` found alive (docs/mutation.md).

Each test pins a number or a branch that the module's other tests reach but do not check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reeflow.clean.reconcile import (
    align_national_lines,
    apply_cross_code,
    check_cross_code,
    choice_basis,
    choose_quantity,
    declarations,
    discrepancies,
    importer_weights,
    reconcile_with_matches,
    used_imputed,
)
from reeflow.io import ReeflowError

NAN = np.nan
TABLE = pd.DataFrame({"hs_code": ["2846", "284690", "253090"], "stage": ["separation", "separation", "mining"]})


def reported(*rows: tuple[str, str, str, str, float]) -> pd.DataFrame:
    """SYNTHETIC reported declarations: (reporter, partner, flow, hs6, qty_t), 2020, all countries."""
    frame = pd.DataFrame(rows, columns=["reporter", "partner", "flow", "hs6", "qty_t"])
    return frame.assign(
        year=2020, is_world=False, partner_is_country=True, reporter_is_country=True,
        qty_items=NAN, value_usd=frame["qty_t"] * 10.0, qty_imputed=False,
    )  # fmt: skip


def decl(*rows: tuple[str, str, str, str, float, float]) -> pd.DataFrame:
    """SYNTHETIC declarations table: (exporter, importer, hs6, side, qty_t, value_usd), 2020, supply flows."""
    frame = pd.DataFrame(rows, columns=["exporter", "importer", "hs6", "side", "qty_t", "value_usd"])
    return frame.assign(year=2020, reexport=False, items=NAN, imputed=False)[
        ["year", "exporter", "importer", "hs6", "reexport", "side", "qty_t", "items", "value_usd", "imputed"]
    ]


# ------------------------------------------------------------------------------ reliability weights


def test_importer_weights_match_the_shrunk_means_by_hand() -> None:
    # A->B disagree fourfold, A->C agree: d1 = ln(4)^2, d2 = 0, d_bar = d1 / 2, prior k = 2
    #   U_exp(A) = (d1 + 0 + 2 d_bar) / (2 + 2) = d1 / 2;  U_imp(B) = (d1 + 2 d_bar) / 3 = 2 d1 / 3
    #   U_imp(C) = (0 + 2 d_bar) / 3 = d1 / 3
    w = importer_weights(["A", "A"], ["B", "C"], [100.0, 100.0], [400.0, 100.0])
    np.testing.assert_allclose(w, [(1 / 2) / (2 / 3 + 1 / 2), (1 / 2) / (1 / 3 + 1 / 2)])


def test_perfect_agreement_gives_equal_weights() -> None:
    np.testing.assert_array_equal(importer_weights(["A", "B"], ["B", "A"], [5.0, 7.0], [5.0, 7.0]), [0.5, 0.5])


def _weighted_a_to_b() -> pd.Series:
    """A's flow to B under weighted_mean, where A's exports disagree with B's imports (x4) but not
    with C's: A is the less reliable reporter."""
    rep = reported(
        ("B", "A", "M", "284690", 100.0), ("A", "B", "X", "284690", 400.0),
        ("C", "A", "M", "284690", 100.0), ("A", "C", "X", "284690", 100.0),
    )  # fmt: skip
    trade, _ = reconcile_with_matches(rep, TABLE, "weighted_mean", 2.0)
    return trade[(trade["exporter"] == "A") & (trade["importer"] == "B")].iloc[0]


def test_weighted_mean_reconciles_with_those_weights() -> None:
    ab = _weighted_a_to_b()
    w = (1 / 2) / (2 / 3 + 1 / 2)  # as above
    assert ab["qty_t"] == pytest.approx(w * 100.0 + (1 - w) * 400.0)
    assert ab["basis"] == "weighted_mean"
    assert ab["disputed"] and ab["discrepancy_ratio"] == pytest.approx(4.0)


def test_a_zero_declaration_has_no_discrepancy_ratio() -> None:
    trade, _ = reconcile_with_matches(
        reported(("B", "A", "M", "284690", 0.0), ("A", "B", "X", "284690", 5.0)), TABLE, "max", 2.0
    )
    row = trade.iloc[0]
    assert np.isnan(row["discrepancy_ratio"]) and not row["disputed"]
    assert row["qty_t"] == 5.0


# ------------------------------------------------------------------------------ declarations


def test_re_imports_are_importer_side_re_exports() -> None:
    out = declarations(reported(("B", "A", "RM", "284690", 3.0), ("A", "B", "RX", "284690", 4.0)))
    assert sorted(out["side"]) == ["exporter", "importer"]
    rm = out[out["side"] == "importer"].iloc[0]
    assert (rm["exporter"], rm["importer"], bool(rm["reexport"]), rm["qty_t"]) == ("A", "B", True, 3.0)
    assert out["reexport"].all()


def test_basis_of_each_rule_and_missing_sides_given_as_none() -> None:
    assert list(choice_basis([1.0, 1.0], [2.0, None], "weighted_mean")) == ["weighted_mean", "importer"]
    assert list(choice_basis([None], [2.0], "importer_first")) == ["exporter"]


def test_imputed_flag_follows_a_weighted_mean() -> None:
    flows = pd.DataFrame({"basis": ["weighted_mean", "max", "importer"], "imputed_importer": [True, False, False],
                          "imputed_exporter": [False, True, True]})  # fmt: skip
    assert list(used_imputed(flows)) == [True, True, False]


# ------------------------------------------------------------------------------ cross-code correspondences

RULE = {"exporter_code": "2846", "importer_code": "253090", "citation": "SYNTHETIC"}


def test_cross_code_rules_need_every_key_and_keep_their_id() -> None:
    with pytest.raises(ReeflowError, match="missing"):
        check_cross_code([{"exporter_code": "2846", "importer_code": "253090"}], TABLE["hs_code"])
    (checked,) = check_cross_code([RULE | {"id": "mountain_pass"}], TABLE["hs_code"])
    assert checked["id"] == "mountain_pass"


def test_without_rules_nothing_is_marked_cross_code() -> None:
    d = decl(("A", "B", "2846", "exporter", 10.0, 100.0))
    out, matches = apply_cross_code(d, [])
    assert (out["cross_code"] == "").all() and matches.empty


def test_cross_code_moves_value_in_proportion_and_skips_empty_declarations() -> None:
    rules = check_cross_code([RULE], TABLE["hs_code"])
    d = decl(
        ("A", "B", "2846", "exporter", 0.0, 0.0),  # nothing to move: skipped, the next row still is handled
        ("A", "C", "2846", "exporter", 10.0, 100.0),
        ("A", "C", "2846", "importer", 4.0, 40.0),
        ("A", "C", "253090", "importer", 6.0, 50.0),
    )
    out, matches = apply_cross_code(d, rules)
    assert list(matches["importer"]) == ["C"] and matches["qty_t_moved"].iloc[0] == pytest.approx(6.0)
    exp = out[(out["importer"] == "C") & (out["side"] == "exporter")].set_index("hs6")
    assert exp.loc["2846", "qty_t"] == pytest.approx(4.0) and exp.loc["2846", "value_usd"] == pytest.approx(40.0)
    assert exp.loc["253090", "qty_t"] == pytest.approx(6.0) and exp.loc["253090", "value_usd"] == pytest.approx(60.0)
    assert exp.loc["253090", "cross_code"] == "2846"


# ------------------------------------------------------------------------------ national lines


def test_parent_declaration_split_by_tonnes_carries_its_value_in_proportion() -> None:
    d = decl(
        ("A", "B", "2846", "exporter", 10.0, 1000.0),
        ("A", "B", "28469019", "importer", 3.0, 1.0),
        ("A", "B", "28469090", "importer", 1.0, 1.0),
    )
    out = align_national_lines(d).set_index(["hs6", "side"])
    assert out.loc[("28469019", "exporter"), "qty_t"] == pytest.approx(7.5)
    assert out.loc[("28469019", "exporter"), "value_usd"] == pytest.approx(750.0)
    assert out.loc[("28469090", "exporter"), "value_usd"] == pytest.approx(250.0)


def test_without_tonnes_the_split_follows_values_then_is_equal() -> None:
    by_value = decl(
        ("A", "B", "2846", "exporter", 10.0, 1000.0),
        ("A", "B", "28469019", "importer", NAN, 30.0),
        ("A", "B", "28469090", "importer", NAN, 10.0),
    )
    out = align_national_lines(by_value).set_index(["hs6", "side"])
    assert out.loc[("28469019", "exporter"), "qty_t"] == pytest.approx(7.5)
    equal = decl(
        ("A", "B", "2846", "exporter", 10.0, 1000.0),
        ("A", "B", "28469019", "importer", NAN, NAN),
        ("A", "B", "28469090", "importer", NAN, NAN),
    )
    out = align_national_lines(equal).set_index(["hs6", "side"])
    assert out.loc[("28469019", "exporter"), "qty_t"] == pytest.approx(5.0)
    assert out.loc[("28469090", "exporter"), "qty_t"] == pytest.approx(5.0)


# ------------------------------------------------------------------------------ held-out sample (docs/mutation.md)


def test_weighted_mean_defaults_to_equal_weights() -> None:
    np.testing.assert_allclose(choose_quantity([10.0], [30.0], "weighted_mean"), [20.0])


def test_a_zero_exporter_declaration_teaches_no_reliability() -> None:
    base = importer_weights(["A", "A"], ["B", "C"], [100.0, 100.0], [400.0, 100.0])
    with_zero = importer_weights(["A", "A", "D"], ["B", "C", "B"], [100.0, 100.0, 5.0], [400.0, 100.0, 0.0])
    np.testing.assert_allclose(with_zero[:2], base)


def test_weighted_mean_weights_values_too() -> None:
    ab = _weighted_a_to_b()
    w = (1 / 2) / (2 / 3 + 1 / 2)
    assert ab["value_usd"] == pytest.approx(w * 1000.0 + (1 - w) * 4000.0)


def test_discrepancy_reasons_and_the_imputed_exporter_side() -> None:
    trade = pd.DataFrame({"qty_t_importer": [NAN, 500.0], "qty_t_exporter": [200.0, 200.0], "qty_t": [200.0, 500.0],
                          "one_sided": [False, False], "disputed": [False, True], "discrepancy_ratio": [NAN, 2.5]})
    trade = trade.assign(year=2020, exporter="A", importer=["B", "C"], hs6="284690", reexport=False, basis="importer",
                         stage="separation", value_usd_importer=1.0, value_usd_exporter=1.0)  # fmt: skip
    out = discrepancies(trade)
    assert out["reason"].tolist() == ["one_quantity_missing_large", "disputed"]
    flows = pd.DataFrame({"basis": ["exporter", "exporter"], "imputed_importer": [False, True],
                          "imputed_exporter": [True, False]})  # fmt: skip
    assert used_imputed(flows).tolist() == [True, False]


def test_cross_code_pairs_only_the_same_exporter_and_respects_the_scope() -> None:
    d = decl(
        ("A", "C", "2846", "exporter", 10.0, 100.0),
        ("E", "C", "2846", "importer", 10.0, 100.0),  # another exporter's goods declared by C under 2846
        ("A", "C", "253090", "importer", 6.0, 50.0),
    )
    (rule,) = check_cross_code([RULE], TABLE["hs_code"])
    out, matches = apply_cross_code(d, [rule])
    assert matches["qty_t_moved"].tolist() == [10.0]
    (scoped,) = check_cross_code([RULE | {"exporters": ["USA"]}], TABLE["hs_code"])
    out, matches = apply_cross_code(d, [scoped])
    assert matches.empty and scoped["exporters"] == ["USA"]


def test_cross_code_moves_items_in_proportion_and_goes_on_after_a_fully_declared_row() -> None:
    rules = check_cross_code([RULE], TABLE["hs_code"])
    d = decl(
        ("A", "B", "2846", "exporter", 5.0, 50.0),
        ("A", "B", "2846", "importer", 5.0, 50.0),  # B declares all of it under the same code: nothing moves
        ("A", "C", "2846", "exporter", 10.0, 100.0),
        ("A", "C", "2846", "importer", 4.0, 40.0),
        ("A", "C", "253090", "importer", 6.0, 50.0),
    )
    d["items"] = [NAN, NAN, 20.0, NAN, NAN]
    out, matches = apply_cross_code(d, rules)
    assert matches["importer"].tolist() == ["C"]
    moved = out[(out["importer"] == "C") & (out["side"] == "exporter")].set_index("hs6")
    assert moved.loc["253090", "items"] == pytest.approx(12.0) and moved.loc["2846", "items"] == pytest.approx(8.0)


def test_national_lines_of_the_exporter_split_the_importers_parent_and_only_its_family() -> None:
    d = decl(
        ("A", "B", "28469019", "exporter", 3.0, 30.0),
        ("A", "B", "28469090", "exporter", 1.0, 10.0),
        ("A", "B", "25309020", "exporter", 9.0, 90.0),  # another family in the same flow
        ("A", "B", "2846", "importer", 8.0, 80.0),
    )
    d["items"] = [NAN, NAN, NAN, 40.0]
    out = align_national_lines(d).set_index(["hs6", "side"])
    assert out.loc[("28469019", "importer"), "qty_t"] == pytest.approx(6.0)
    assert out.loc[("28469090", "importer"), "items"] == pytest.approx(10.0)
    assert ("25309020", "importer") not in out.index
