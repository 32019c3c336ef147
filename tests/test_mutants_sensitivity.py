"""Hand-built cases for reeflow.sensitivity.montecarlo that kill the mutants `make mutation` found alive
(docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reeflow.io import ReeflowError
from reeflow.sensitivity import montecarlo as sens
from reeflow.settings import SensitivitySettings, SensitivitySpace

YIELDS = {"separation": 0.9, "metal": 0.8, "intermediate": 0.9, "final": 1.0}


def table() -> pd.DataFrame:
    """SYNTHETIC two-code commodity table: an ore with uncertain content and share, a compound."""
    return pd.DataFrame({
        "hs_code": ["253090", "284690"], "stage": ["mining", "separation"], "unit_basis": ["t", "t"],
        "item_mass_t": [np.nan, np.nan], "content_low": [0.5, 0.8], "content_central": [0.6, 0.9],
        "content_high": [0.7, 1.0], "share_low": [0.0, 1.0], "share_central": [0.5, 1.0], "share_high": [1.0, 1.0],
    })  # fmt: skip


def trade() -> pd.DataFrame:
    """SYNTHETIC trade: the US exports ore to China (the two sides disagree), China sends compounds back."""
    rows = pd.DataFrame({
        "exporter": ["USA", "CHN", "USA"], "importer": ["CHN", "USA", "JPN"], "hs6": ["253090", "284690", "284690"],
        "qty_t_importer": [100.0, 10.0, np.nan], "qty_t_exporter": [300.0, 12.0, 5.0],
    })  # fmt: skip
    return rows.assign(
        year=2020, qty_t=rows["qty_t_importer"].fillna(rows["qty_t_exporter"]), items_importer=np.nan,
        items_exporter=np.nan, qty_items=np.nan, basis="importer", imputed=False, imputed_importer=False,
        imputed_exporter=False, reexport=False,
    )  # fmt: skip


def space(**kwargs: object) -> sens.ParameterSpace:
    return sens.parameter_space(table(), YIELDS, **({"central_rule": "importer_first"} | kwargs))


def test_extreme_settings_without_a_defined_value_point_at_the_first() -> None:
    assert sens._extreme_settings(np.array([np.nan, np.nan])) == (0, 0)
    assert sens._extreme_settings(np.array([2.0, np.nan, 1.0])) == (2, 0)


def test_a_year_without_production_evaluates_with_derived_production() -> None:
    s = space()
    flows = sens.aggregate_year(trade(), s, 2020)
    assert flows.production_stats is None and flows.production_floors is None
    values = sens.evaluate(flows, s, sens.central_draws(s))
    # importer_first: US exports 100 t ore x 0.6 x 0.5 + 5 t compound x 0.9; imports 10 t x 0.9
    assert values["us_net_exports_t"][0] == pytest.approx(30.0 + 4.5 - 9.0)


def test_group_design_moves_the_rule_and_the_yields() -> None:
    s = space()
    draws = sens.draws_for_groups(s, ["mirror_rule", "yields"], np.array([[0.99, 1.0], [np.nan, 0.0]]))
    assert list(draws.rule) == [sens.MIRROR_RULES.index("weighted_mean"), sens.MIRROR_RULES.index("importer_first")]
    assert draws.yields.dtype == np.float64
    np.testing.assert_array_equal(draws.yields[:, 0], s.yields[:, 2])
    np.testing.assert_array_equal(draws.yields[:, 1], s.yields[:, 0])


def test_chunks_evaluate_each_draw_once() -> None:
    s = space()
    flows = sens.aggregate_year(trade(), s, 2020)
    draws = sens.sample_draws(s, 5, seed=3)
    chunked = sens.evaluate_in_chunks(flows, s, draws, chunk=2)
    whole = sens.evaluate(flows, s, draws)
    for name, values in whole.items():
        np.testing.assert_array_equal(chunked[name], values)


def test_one_at_a_time_labels_each_rule_with_its_value() -> None:
    s = space()
    flows = sens.aggregate_year(trade(), s, 2020)
    oat = sens.one_at_a_time({2020: flows}, s, ["us_net_exports_t"])
    assert not oat[["low_setting", "high_setting"]].isna().any().any()
    row = oat[oat["parameter"] == "mirror_rule"].iloc[0]
    # rules give US exports 100 (importer_first) or 300 (exporter_first, max) t of ore, 200 with equal weights
    assert (row["low_setting"], row["high_setting"]) == ("importer_first", "exporter_first")
    for setting, value in [(row["low_setting"], row["low_value"]), (row["high_setting"], row["high_value"])]:
        draws = sens.central_draws(s)
        draws = sens.Draws(draws.content, draws.share, draws.yields, np.array([sens.MIRROR_RULES.index(setting)]),
                           draws.include_imputed)  # fmt: skip
        assert sens.evaluate(flows, s, draws)["us_net_exports_t"][0] == pytest.approx(value)


def test_draw_count_error_names_the_key() -> None:
    with pytest.raises(ReeflowError, match="sensitivity.draws"):
        sens.sample_draws(space(), 0, seed=1)


def test_sobol_tables_without_groups_or_years_keep_their_columns() -> None:
    assert sens.sobol_table([], lambda x: {}, 8, 1).columns.tolist() == list(sens.SOBOL_COLUMNS)
    assert sens.sobol_by_year({}, space(), 8, 1).columns.tolist() == ["year", *sens.SOBOL_COLUMNS]


def test_a_constant_output_gets_nan_indices() -> None:
    out = sens.sobol_table(["a", "b"], lambda x: {"flat": np.ones(len(x))}, 8, 1)
    assert len(out) == 2 and out[["S1", "S1_conf", "ST", "ST_conf"]].isna().all().all()


def test_sobol_indices_are_reproducible_from_the_seed() -> None:
    s = space()
    flows = {2020: sens.aggregate_year(trade(), s, 2020)}
    first = sens.sobol_by_year(flows, s, 8, seed=5, num_resamples=10)
    second = sens.sobol_by_year(flows, s, 8, seed=5, num_resamples=10)
    pd.testing.assert_frame_equal(first, second)


def test_space_from_config_uses_the_yield_range(tmp_path: Path) -> None:
    path = tmp_path / "commodities.csv"
    table().assign(product="", description="SYNTHETIC", revisions="", include="true",
                   citation="SYNTHETIC").to_csv(path, index=False)  # fmt: skip
    settings = SensitivitySpace(
        yields=YIELDS, central_rule="max", central_include_imputed=True,
        sensitivity=SensitivitySettings(yield_range=0.2, mirror_rules=("max", "importer_first"),
                                        vary_imputation=False, p_include_imputed=0.5),
    )  # fmt: skip
    s = sens.space_from_config(path, settings)
    np.testing.assert_allclose(s.yields[0], [0.9 * 0.8, 0.9, 1.0])
    assert s.central_rule == "max" and s.mirror_rules == ("max", "importer_first") and s.vary_imputation is False


def test_summaries_come_sorted_by_year_and_indicator() -> None:
    draws = pd.DataFrame({"draw": [0, 1, 0, 1, 0, 1], "year": [2021, 2021, 2020, 2020, 2020, 2020],
                          "indicator": ["b", "b", "b", "b", "a", "a"], "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    out = sens.summarise_draws(draws)
    assert list(zip(out["year"], out["indicator"])) == [(2020, "a"), (2020, "b"), (2021, "b")]
    assert out["n_valid"].tolist() == [2, 2, 2] and out["p50"].tolist() == [5.5, 3.5, 1.5]


def test_aggregation_of_codes_production_and_rows() -> None:
    s = space()
    production = pd.DataFrame({"year": 2020, "country": ["CHN"], "stage": "mining", "value_t_reo": [300.0]})
    flows = sens.aggregate_year(trade(), s, 2020, production)
    assert flows.n_rows == 3 and flows.mining.tolist() == [0.0, 300.0]  # no US mine listed: 0 t, not a guess
    # a row under a code outside the table is left out and shifts nothing
    extra = pd.concat([trade().iloc[[0]].assign(hs6="999999", qty_t_importer=1e6, qty_t=1e6), trade()])
    with_extra = sens.aggregate_year(extra.reset_index(drop=True), s, 2020, production)
    np.testing.assert_array_equal(with_extra.units, flows.units)
    assert with_extra.n_rows == 3


def test_an_item_code_without_a_mass_counts_nothing_rather_than_infinity() -> None:
    t = table()
    t.loc[1, ["unit_basis", "item_mass_t"]] = ["item", 0.0]
    s = sens.parameter_space(t, YIELDS, central_rule="importer_first")
    flows = sens.aggregate_year(trade(), s, 2020)
    assert np.isfinite(flows.units).all()
    assert flows.units[:, 1].max() == 0.0


def test_sobol_rule_is_reproducible_from_the_seed(tmp_path: Path) -> None:
    s = space()
    trade().to_parquet(tmp_path / "trade.parquet")
    pd.DataFrame({"year": 2020, "country": ["USA", "CHN"], "stage": "mining", "value_t_reo": [40.0, 300.0]}).to_parquet(
        tmp_path / "production.parquet"
    )
    paths = {2020: str(tmp_path / "trade.parquet")}
    first = sens.run_sobol(paths, tmp_path / "production.parquet", s, 8, 5, tmp_path / "a.csv", num_resamples=10)
    second = sens.run_sobol(paths, tmp_path / "production.parquet", s, 8, 5, tmp_path / "b.csv", num_resamples=10)
    pd.testing.assert_frame_equal(first, second)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


# ------------------------------------------------------------------------------ held-out sample (docs/mutation.md)


def test_parameter_space_refuses_unknown_rules_and_probabilities_above_one() -> None:
    with pytest.raises(ReeflowError, match="unknown or empty"):
        space(mirror_rules=("importer_first", "median"))
    with pytest.raises(ReeflowError, match="mirror_rules"):
        space(central_rule="median")
    with pytest.raises(ReeflowError, match="p_include_imputed"):
        space(p_include_imputed=1.5)


def test_groups_vary_where_low_and_high_differ_and_imputation_only_when_uncertain() -> None:
    t = table()
    t.loc[1, ["content_low", "content_central", "content_high"]] = [0.8, 1.0, 1.0]  # central at the top
    s = sens.parameter_space(t, YIELDS, central_rule="importer_first", p_include_imputed=0.0)
    groups = sens.parameter_groups(s)
    assert "content_separation" in groups and "imputation" not in groups


def test_stale_samples_with_an_unknown_rule_are_refused() -> None:
    s = space()
    frame = sens.draws_to_frame(s, sens.sample_draws(s, 3, seed=1))
    assert frame["mirror_rule"].dtype == "string" and frame.columns[-2:].tolist() == ["mirror_rule", "include_imputed"]
    frame["mirror_rule"] = frame["mirror_rule"].astype(object)
    frame.loc[0, "mirror_rule"] = "median"
    with pytest.raises(ReeflowError, match="unknown rule"):
        sens.draws_from_frame(frame, s)


def test_one_at_a_time_reports_low_and_high_settings_even_when_the_value_falls() -> None:
    s = space()
    flows = sens.aggregate_year(trade(), s, 2020)
    oat = sens.one_at_a_time({2020: flows}, s, ["us_net_exports_t"])
    assert oat["year"].tolist() == [2020] * len(oat)
    row = oat[oat["parameter"] == "content_separation"].iloc[0]
    # the US imports 10 t of compounds and exports 5 t: more content, lower net exports
    assert (row["low_setting"], row["high_setting"]) == ("low", "high")
    assert row["low_value"] == pytest.approx(30.0 + 5 * 0.8 - 10 * 0.8)
    assert row["high_value"] == pytest.approx(30.0 + 5 * 1.0 - 10 * 1.0)


def test_year_flows_from_files_carry_the_production(tmp_path: Path) -> None:
    s = space()
    trade().to_parquet(tmp_path / "trade.parquet")
    pd.DataFrame({"year": 2020, "country": ["USA", "CHN"], "stage": "mining", "value_t_reo": [40.0, 300.0]}).to_parquet(
        tmp_path / "production.parquet"
    )
    flows = sens.load_year_flows({2020: str(tmp_path / "trade.parquet")}, s, tmp_path / "production.parquet")
    assert flows[2020].mining.tolist() == [40.0, 300.0]
