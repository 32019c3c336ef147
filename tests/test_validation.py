"""reeflow.validate.usgs: model vs USGS salient statistics under every mirror rule (SYNTHETIC data)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reeflow.clean.reconcile import RULES, importer_weights
from reeflow.mfa.us_trade import trade_under_rule, us_trade_by_rules, us_trade_by_stage
from reeflow.report.plots import plot_validation, save_figure
from reeflow.validate.usgs import (
    FIT_COLUMNS,
    VALIDATION_COLUMNS,
    build_validation,
    log_ratio,
    rule_fit,
    usgs_net_exporter,
    usgs_values,
)

NAN = np.nan
YEARS = [2019, 2020, 2021]
# SYNTHETIC "truth" (t REO = t of goods: content and share 1): what USGS reports
EXPORTS_ORES = {2019: 20000.0, 2020: 30000.0, 2021: 40000.0}
IMPORTS_COMPOUNDS = {2019: 8000.0, 2020: 6000.0, 2021: 7000.0}
IMPORTS_METALS = {2019: 500.0, 2020: 400.0, 2021: 600.0}


def commodities() -> pd.DataFrame:
    """SYNTHETIC commodity table; the mining code is an 8-digit national line, stages by code."""
    return pd.DataFrame({
        "hs_code": ["25309020", "284690", "280530", "850511"],
        "stage": ["mining", "separation", "metal", "intermediate"],
        "unit_basis": ["t", "t", "t", "t"],
        "item_mass_t": [NAN] * 4,
        "content_central": [1.0, 1.0, 1.0, 0.3],
        "share_central": [1.0, 1.0, 1.0, 1.0],
        "product": [""] * 4,
    })  # fmt: skip


def flow(year: int, exporter: str, importer: str, hs6: str, q_imp: float, q_exp: float, **extra: object) -> dict:
    return {"year": year, "exporter": exporter, "importer": importer, "hs6": hs6, "qty_t": q_imp,
            "qty_items": NAN, "value_usd": NAN, "basis": "importer", "qty_t_importer": q_imp,
            "qty_t_exporter": q_exp, "items_importer": NAN, "items_exporter": NAN,
            "value_usd_importer": q_imp * 10, "value_usd_exporter": q_exp * 10, "reexport": False, **extra}  # fmt: skip


def known_trade() -> pd.DataFrame:
    """Exporters declare the truth; importers declare a tenth of it, except US metal imports, where
    the US (importer) declares ten times the truth, so ``max`` is wrong there and only
    ``exporter_first`` matches USGS everywhere."""
    rows = []
    for y in YEARS:
        ores = EXPORTS_ORES[y]
        rows.append(flow(y, "USA", "CHN", "25309020", 0.6 * ores / 10, 0.6 * ores))  # mining line
        rows.append(flow(y, "USA", "CHN", "284690", 0.4 * ores / 10, 0.4 * ores))  # concentrate as 2846
        rows.append(flow(y, "CHN", "USA", "284690", IMPORTS_COMPOUNDS[y] / 10, IMPORTS_COMPOUNDS[y]))
        rows.append(flow(y, "CHN", "USA", "280530", IMPORTS_METALS[y] * 10, IMPORTS_METALS[y]))
        rows.append(flow(y, "CHN", "JPN", "284690", 900.0, 1000.0))  # not US: never counted
    return pd.DataFrame(rows)


def salient(years: list[int] = YEARS, edition: str = "MCS2024") -> pd.DataFrame:
    rows = []
    for y in years:
        for stat, value in [
            ("exports_ores_compounds", EXPORTS_ORES[y]), ("imports_compounds", IMPORTS_COMPOUNDS[y]),
            ("imports_alloys", IMPORTS_METALS[y] / 2), ("imports_metals", IMPORTS_METALS[y] / 2),
            ("exports_alloys", 0.0), ("exports_metals", 0.0),
        ]:  # fmt: skip
            rows.append({"year": y, "commodity": "Rare Earths", "statistic": stat, "value": value, "code": "",
                         "unit": "t", "edition": edition, "source": "synthetic.csv"})  # fmt: skip
        rows.append({"year": y, "commodity": "Rare Earths", "statistic": "nir_concentrate", "value": NAN,
                     "code": "E", "unit": "percent", "edition": edition, "source": "synthetic.csv"})  # fmt: skip
    return pd.DataFrame(rows)


def balance() -> pd.DataFrame:
    rows = []
    for y in YEARS:
        for stage in ("mining", "separation", "metal"):
            rows.append({"year": y, "country": "USA", "stage": stage, "production_t": 1000.0, "imports_t": 0.0,
                         "exports_t": 0.0, "apparent_consumption_t": 900.0, "net_exports_t": 0.0})  # fmt: skip
    return pd.DataFrame(rows)


def production() -> pd.DataFrame:
    return pd.DataFrame({"year": YEARS, "country": "CHN", "stage": "mining", "value_t_reo": 1.0e5,
                         "source": "s", "edition": "MCS2024", "flag": "reported"})  # fmt: skip


def run(trade: pd.DataFrame, sal: pd.DataFrame, years: list[int] = YEARS) -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_validation(us_trade_by_rules(trade, commodities()), sal, balance(), production(), None,
                            "importer_first", years)


# --------------------------------------------------------------------------------------------


def test_trade_under_rule_rechooses_quantity_and_basis() -> None:
    trade = known_trade()
    exp = trade_under_rule(trade, "exporter_first")
    np.testing.assert_allclose(exp["qty_t"], trade["qty_t_exporter"])
    assert set(exp["basis"]) == {"exporter"}
    np.testing.assert_allclose(exp["value_usd"], trade["value_usd_exporter"])
    biggest = trade_under_rule(trade, "max")
    np.testing.assert_allclose(biggest["qty_t"], np.fmax(trade["qty_t_importer"], trade["qty_t_exporter"]))
    one_sided = trade.assign(qty_t_exporter=NAN)
    np.testing.assert_allclose(trade_under_rule(one_sided, "exporter_first")["qty_t"], trade["qty_t_importer"])


def test_trade_under_rule_keeps_rows_without_declarations() -> None:
    baci = known_trade().assign(qty_t_importer=NAN, qty_t_exporter=NAN, basis="reconciled", qty_t=5.0)
    out = trade_under_rule(baci, "exporter_first")
    assert (out["qty_t"] == 5.0).all() and set(out["basis"]) == {"reconciled"}


def test_weighted_mean_uses_per_year_reliability_weights_from_supply_flows() -> None:
    trade = known_trade()
    reexport = flow(2020, "USA", "CHN", "284690", 1.0, 1.0e6, reexport=True)  # must not teach reliability
    trade = pd.concat([trade, pd.DataFrame([reexport])], ignore_index=True)
    out = trade_under_rule(trade, "weighted_mean")
    for _year, rows in trade.groupby("year"):
        supply = ~rows["reexport"].to_numpy(bool)
        qi, qe = rows["qty_t_importer"].to_numpy(float), rows["qty_t_exporter"].to_numpy(float)
        w = importer_weights(rows["exporter"], rows["importer"], np.where(supply, qi, NAN), qe)
        assert not np.allclose(w, 0.5), "the weights should not be the plain mean here"
        np.testing.assert_allclose(out.loc[rows.index, "qty_t"], w * qi + (1 - w) * qe)
    assert set(out["basis"]) == {"weighted_mean"}


def test_stages_come_from_the_commodity_table_by_code_including_national_lines() -> None:
    by_stage = us_trade_by_stage(known_trade(), commodities(), "exporter_first")
    row = by_stage[(by_stage["year"] == 2020)].set_index("stage")
    assert row.loc["mining", "exports_t"] == pytest.approx(0.6 * EXPORTS_ORES[2020])
    assert row.loc["separation", "exports_t"] == pytest.approx(0.4 * EXPORTS_ORES[2020])
    assert row.loc["metal", "imports_t"] == pytest.approx(IMPORTS_METALS[2020])


def test_fit_ranks_the_rule_that_matches_usgs_first() -> None:
    validation, fit = run(known_trade(), salient())
    assert list(validation.columns) == VALIDATION_COLUMNS and list(fit.columns) == FIT_COLUMNS
    overall = fit[fit["scope"] == "trade"].set_index("mirror_rule")
    assert overall.loc["exporter_first", "rank"] == 1
    assert (overall.drop(index="exporter_first")["rank"] > 1).all()
    assert overall.loc["exporter_first", "median_abs_log_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert bool(overall.loc["exporter_first", "supported"])
    assert overall.loc["importer_first", "median_abs_log_ratio"] > math.log(5)
    assert "exporter_first" in overall.loc["exporter_first", "verdict"] and "supported" in overall["verdict"].iloc[0]
    ores = validation[(validation["indicator"] == "us_exports_ores_compounds") & (validation["year"] == 2020)]
    ores = ores.set_index("mirror_rule")
    assert ores.loc["exporter_first", "model_t"] == pytest.approx(30000.0)
    assert ores.loc["importer_first", "model_t"] == pytest.approx(3000.0)
    assert set(ores.index) == set(RULES)


def test_missing_usgs_years_are_nan_not_zero() -> None:
    validation, fit = run(known_trade(), salient([2019, 2020]))
    later = validation[(validation["year"] == 2021) & (validation["indicator"] == "us_imports_compounds")]
    assert len(later) == len(RULES)
    assert later["usgs_t"].isna().all() and later["difference_t"].isna().all() and later["log_ratio"].isna().all()
    assert not later["in_fit"].any()
    assert (later["model_t"] > 0).all()
    assert fit.loc[fit["scope"] == "trade", "n"].max() == 2 * 4  # 2 years x 4 component items


def test_net_exporter_status_compared_per_rule() -> None:
    validation, fit = run(known_trade(), salient())
    status = validation[validation["indicator"] == "us_net_exporter_concentrate"].set_index(["mirror_rule", "year"])
    assert (status["usgs_code"] == "E").all()
    # exporter_first: net exports 30000 - 6000 > 0 -> agrees; importer_first: 3000 - 600 > 0 too
    assert status["sign_agrees"].astype(bool).all()
    net = validation[(validation["indicator"] == "us_net_exports_ores_compounds") & (validation["year"] == 2020)]
    assert net["usgs_t"].iloc[0] == pytest.approx(30000.0 - 6000.0) and net["log_ratio"].isna().all()
    overall = fit[fit["scope"] == "trade"].set_index("mirror_rule")
    assert (overall["status_agreement"] == 1.0).all() and (overall["n_status"] == 3).all()


def test_no_salient_statistics_gives_tables_with_a_clear_note() -> None:
    empty = salient().iloc[0:0]
    validation, fit = run(known_trade(), empty)
    assert not validation.empty and validation.loc[validation["indicator"] != "china_mine_production",
                                                   "usgs_t"].isna().all()
    assert (fit.loc[fit["scope"] == "trade", "n"] == 0).all()
    assert "nothing to validate" in fit.loc[fit["scope"] == "trade", "verdict"].iloc[0]
    assert not fit["supported"].any()


def test_latest_edition_wins_and_codes_are_no_values() -> None:
    old = salient([2020], "MCS2022").assign(value=lambda f: f["value"] * 2)
    code_only = pd.DataFrame([{"year": 2020, "commodity": "Rare Earths", "statistic": "exports_ores_compounds",
                               "value": NAN, "code": "W", "unit": "t", "edition": "MCS2026", "source": "x"}])
    yttrium = salient([2020], "MCS2030").assign(commodity="Yttrium")
    values = usgs_values(pd.concat([old, salient([2020]), code_only, yttrium], ignore_index=True))
    ores = values[values["indicator"] == "us_exports_ores_compounds"].iloc[0]
    assert ores["usgs_t"] == EXPORTS_ORES[2020] and ores["usgs_edition"] == "MCS2024"
    metals = values[values["indicator"] == "us_imports_metals_alloys"].iloc[0]
    assert metals["usgs_t"] == pytest.approx(IMPORTS_METALS[2020])  # alloys + metals summed
    total = values[values["indicator"] == "us_exports_total"].iloc[0]
    assert total["usgs_statistic"].count("+") == 2
    ds140 = pd.DataFrame([{"year": 2010, "commodity": "Rare Earths", "statistic": "exports", "value": 7880.0,
                           "code": "", "unit": "t", "edition": "DS140-2020", "source": "x"}])
    assert usgs_values(ds140).set_index("indicator").loc["us_exports_total", "usgs_t"] == 7880.0
    status = usgs_net_exporter(pd.concat([salient([2020]), old], ignore_index=True))
    assert status["usgs_net_exporter"].all() and list(status["usgs_edition"]) == ["MCS2024"]


def test_log_ratio_keeps_zeros_finite_and_net_values_out() -> None:
    np.testing.assert_allclose(log_ratio([0.0, 99.0, 10.0], [0.0, 9.0, NAN])[:2], [0.0, math.log(10)])
    assert np.isnan(log_ratio([10.0], [NAN])[0]) and np.isnan(log_ratio([-5.0], [3.0])[0])


def test_totals_enter_the_fit_only_without_component_items() -> None:
    ds140 = pd.DataFrame([{"year": 2021, "commodity": "Rare Earths", "statistic": s, "value": v, "code": "",
                           "unit": "t", "edition": "DS140-2020", "source": "x"}
                          for s, v in [("exports", 40000.0), ("imports", 7600.0)]])  # fmt: skip
    validation, _ = run(known_trade(), pd.concat([salient([2019, 2020]), ds140], ignore_index=True))
    totals = validation[validation["indicator"].isin(["us_exports_total", "us_imports_total"])]
    assert totals.loc[totals["year"] == 2021, "in_fit"].all()
    assert not totals.loc[totals["year"] < 2021, "in_fit"].any()
    fit = rule_fit(validation)
    assert fit.loc[(fit["scope"] == "trade") & (fit["mirror_rule"] == "exporter_first"), "rank"].iloc[0] == 1


def test_validation_figure_draws_full_and_empty_tables(tmp_path: Path) -> None:
    validation, _ = run(known_trade(), salient([2019, 2020]))
    save_figure(plot_validation(validation, "SYNTHETIC"), tmp_path / "v.png", tmp_path / "v.svg")
    assert (tmp_path / "v.png").stat().st_size > 1000 and (tmp_path / "v.svg").is_file()
    save_figure(plot_validation(validation.iloc[0:0], "SYNTHETIC"), tmp_path / "e.png")
    assert (tmp_path / "e.png").is_file()


def test_decisive_scope_keeps_only_cells_the_us_declared_in_full() -> None:
    """SYNTHETIC: the US declares its exports in full in 2021 only; imports are partial at separation."""
    from reeflow.validate.usgs import complete_us_flows, is_complete

    balance = pd.DataFrame({
        "year": [2020, 2020, 2021, 2021], "country": ["USA"] * 4, "stage": ["separation", "metal"] * 2,
        "unreported_flows": ["imports+exports", "imports+exports", "imports_partial", ""],
    })  # fmt: skip
    complete = complete_us_flows(balance)
    assert (2021, "exports", "separation") in complete and (2021, "imports", "metal") in complete
    assert (2021, "imports", "separation") not in complete and (2020, "exports", "metal") not in complete
    assert is_complete("us_exports_ores_compounds", 2021, complete | {(2021, "exports", "mining")})
    assert not is_complete("us_imports_compounds", 2021, complete)
    assert not is_complete("us_mine_production", 2021, complete)
