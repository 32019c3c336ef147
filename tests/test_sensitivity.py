"""Monte Carlo, one-at-a-time and Sobol analysis (reeflow.sensitivity.montecarlo) on SYNTHETIC trade tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.commodities import load_commodities
from reeflow.io import ReeflowError
from reeflow.sensitivity import montecarlo as sens
from reeflow.settings import MfaSettings, SensitivitySpace

YIELDS = {"separation": 0.95, "metal": 0.80, "intermediate": 0.90, "final": 0.95}
MFA = MfaSettings(yields=YIELDS, negative_consumption="clip_and_report", balance_tolerance=1e-6,
                  disruption_links=(), disruption_exporters=(), top_partners=5)  # fmt: skip
COUNTRIES = np.array(["USA", "CHN", "JPN", "DEU", "MYS"])


def synthetic_commodities(zero_width: bool = False) -> pd.DataFrame:
    """A SYNTHETIC four-code table: a partly-REE ore, a compound, a magnet, an item-counted car."""
    table = pd.DataFrame(
        {
            "hs_code": ["253090", "284690", "850511", "870380"],
            "stage": ["mining", "separation", "intermediate", "final"],
            "unit_basis": ["t", "t", "t", "item"],
            "item_mass_t": [np.nan, np.nan, np.nan, 1.8],
            "content_low": [0.60, 0.50, 0.31, 0.0003],
            "content_central": [0.65, 0.80, 0.35, 0.0006],
            "content_high": [0.72, 1.00, 0.39, 0.0008],
            "share_low": [0.00, 1.0, 0.5, 1.0],
            "share_central": [0.02, 1.0, 0.7, 1.0],
            "share_high": [0.10, 1.0, 0.9, 1.0],
        }
    )
    if zero_width:
        for kind in ("content", "share"):
            table[f"{kind}_low"] = table[f"{kind}_central"]
            table[f"{kind}_high"] = table[f"{kind}_central"]
    return table


def synthetic_trade(seed: int, n: int = 600, year: int = 2020) -> pd.DataFrame:
    """SYNTHETIC trade with one- and two-sided declarations, imputed rows, re-exports and item counts."""
    rng = np.random.default_rng(seed)
    codes = synthetic_commodities()["hs_code"].to_numpy()
    trade = pd.DataFrame(
        {
            "year": year,
            "exporter": rng.choice(COUNTRIES, n),
            "importer": rng.choice(COUNTRIES, n),
            "hs6": rng.choice(codes, n),
        }
    )
    q_imp = rng.lognormal(3, 1, n)
    q_exp = q_imp * rng.lognormal(0, 0.5, n)
    q_imp[rng.random(n) < 0.25] = np.nan
    q_exp[rng.random(n) < 0.25] = np.nan
    is_car = trade["hs6"].to_numpy() == "870380"
    trade["qty_t_importer"] = q_imp
    trade["qty_t_exporter"] = q_exp
    trade["qty_t"] = np.where(np.isnan(q_imp), q_exp, q_imp)
    trade["items_importer"] = np.where(is_car & ~np.isnan(q_imp), np.round(q_imp / 1.7), np.nan)
    trade["items_exporter"] = np.where(is_car & ~np.isnan(q_exp) & (rng.random(n) < 0.5), np.round(q_exp / 1.9), np.nan)
    trade["qty_items"] = np.where(np.isnan(trade["items_importer"]), trade["items_exporter"], trade["items_importer"])
    trade["basis"] = "importer"
    # imputation is per declaration (reeflow.clean.reconcile); `imputed`: the importer_first choice was
    trade["imputed_importer"] = (rng.random(n) < 0.15) & ~np.isnan(q_imp)
    trade["imputed_exporter"] = (rng.random(n) < 0.15) & ~np.isnan(q_exp)
    trade["imputed"] = np.where(np.isnan(q_imp), trade["imputed_exporter"], trade["imputed_importer"])
    trade["reexport"] = rng.random(n) < 0.05
    return trade


def synthetic_production(year: int = 2020) -> pd.DataFrame:
    """SYNTHETIC mine production (t REO) for the two focus countries and one other."""
    return pd.DataFrame({"year": year, "country": ["USA", "CHN", "MYS"], "stage": "mining",
                         "value_t_reo": [40.0, 300.0, 5.0], "source": "synthetic", "edition": "synthetic",
                         "flag": "reported"})


def space_of(table: pd.DataFrame, **kwargs) -> sens.ParameterSpace:
    return sens.parameter_space(table, YIELDS, **({"central_rule": "importer_first"} | kwargs))


def reference_indicators(trade: pd.DataFrame, table: pd.DataFrame, content, share, rule: str, include: bool,
                         yields=None, mining=None):
    """Row-by-row reference (no aggregation trick, no draws axis), written apart from the module's core.

    Follows the documented definitions: reeflow.mfa.balance units and balance, reeflow.mfa.indicators headline;
    without imputed quantities, the imputed declarations are dropped before the rule chooses."""
    from reeflow.clean.reconcile import importer_weights

    yields = YIELDS if yields is None else yields
    mining = {"USA": 40.0, "CHN": 300.0} if mining is None else mining
    trade = trade.assign(declared=trade["qty_t_importer"].notna() | trade["qty_t_exporter"].notna())
    if not include:
        trade = trade.assign(
            qty_t_importer=trade["qty_t_importer"].mask(trade["imputed_importer"]),
            qty_t_exporter=trade["qty_t_exporter"].mask(trade["imputed_exporter"]),
            qty_t=trade["qty_t"].mask(trade["imputed"] & ~trade["declared"]),
        )
    qi_supply = np.where(trade["reexport"], np.nan, trade["qty_t_importer"])
    w_all = importer_weights(trade["exporter"], trade["importer"], qi_supply, trade["qty_t_exporter"])
    trade = trade.assign(w=w_all)
    rows = trade[~trade["reexport"] & (trade["exporter"] != trade["importer"])].copy()
    coef = table.set_index("hs_code")

    def pick(a: float, b: float, w: float) -> float:
        if np.isnan(a) or np.isnan(b):
            return b if np.isnan(a) else a
        return {"importer_first": a, "exporter_first": b, "max": max(a, b), "weighted_mean": w * a + (1 - w) * b}[rule]

    reo = []
    for _, r in rows.iterrows():
        qty = pick(r["qty_t_importer"], r["qty_t_exporter"], r["w"])
        qty = r["qty_t"] if np.isnan(qty) and not r["declared"] else qty  # the chosen one stands in for BACI rows
        units = qty
        if coef.loc[r["hs6"], "unit_basis"] == "item":
            items = pick(r["items_importer"], r["items_exporter"], r["w"])
            items = r["qty_items"] if np.isnan(items) else items
            units = items if np.isfinite(items) else qty / coef.loc[r["hs6"], "item_mass_t"]
        i = list(coef.index).index(r["hs6"])
        reo.append(np.nan_to_num(units) * content[i] * share[i])
    rows["reo"] = reo
    rows["stage"] = rows["hs6"].map(coef["stage"])

    def total(exporter=None, importer=None, stage=None) -> float:
        mask = np.ones(len(rows), dtype=bool)
        if exporter:
            mask &= rows["exporter"] == exporter
        if importer:
            mask &= rows["importer"] == importer
        if stage:
            mask &= rows["stage"] == stage
        return float(rows.loc[mask, "reo"].sum())

    def supply(country: str) -> float:
        production, feed, out = mining[country], 0.0, 0.0
        stages = ["mining", "separation", "metal", "intermediate", "final"]
        for k, stage in enumerate(stages):
            if k:
                production = feed * yields[stage]
            imports = total(None, country, stage)
            feed = max(production + imports - total(country, None, stage), 0.0)
            out += production + imports
        return out

    us_x, us_m, cn_x, cn_m = total("USA"), total(None, "USA"), total("CHN"), total(None, "CHN")
    d_us, d_cn = total("CHN", "USA") / supply("USA"), total("USA", "CHN") / supply("CHN")
    return {
        "us_net_exports_t": us_x - us_m,
        "china_net_exports_t": cn_x - cn_m,
        "china_share_of_us_exports": total("USA", "CHN") / us_x,
        "us_china_interdependence": np.sqrt(d_us * d_cn),
    }


# ---------------------------------------------------------------------------- sampling


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(0, 10),
    widths=st.tuples(st.floats(0, 5), st.floats(0, 5)),
    u=st.lists(st.floats(0, 1), min_size=1, max_size=20),
)
def test_triangular_ppf_stays_within_its_range(low, widths, u) -> None:
    mode, high = low + widths[0], low + widths[0] + widths[1]
    x = sens.triangular_ppf(np.array(u), low, mode, high)
    assert np.all(x >= low) and np.all(x <= high)
    assert np.all(np.diff(x[np.argsort(u)]) >= -1e-12)  # monotone in u


def test_triangular_ppf_matches_the_triangular_distribution() -> None:
    u = np.random.default_rng(0).random(200_000)
    x = sens.triangular_ppf(u, 1.0, 2.0, 4.0)
    assert x.mean() == pytest.approx((1 + 2 + 4) / 3, rel=5e-3)
    assert np.median(x) == pytest.approx(4 - np.sqrt(0.5 * 3 * 2), rel=5e-3)


def test_same_seed_same_draws_and_another_seed_differs() -> None:
    space = space_of(synthetic_commodities())
    a, b, c = (sens.draws_to_frame(space, sens.sample_draws(space, 300, s)) for s in (11, 11, 12))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_draws_stay_within_their_ranges() -> None:
    table = synthetic_commodities()
    space = space_of(table, yield_range=0.2)
    d = sens.sample_draws(space, 2000, 5)
    for kind in ("content", "share"):
        lo, hi = table[f"{kind}_low"].to_numpy()[:, None], table[f"{kind}_high"].to_numpy()[:, None]
        values = getattr(d, kind)
        assert np.all(values >= lo) and np.all(values <= hi)
    assert np.all(d.yields <= 1.0) and np.all(d.yields >= space.yields[:, [0]])
    assert set(d.rule) == {0, 1, 2, 3}  # all four rules are drawn
    assert 0.4 < d.include_imputed.mean() < 0.6


def test_samples_round_trip_and_stale_samples_fail() -> None:
    space = space_of(synthetic_commodities())
    draws = sens.sample_draws(space, 50, 1)
    back = sens.draws_from_frame(sens.draws_to_frame(space, draws), space)
    for field in ("content", "share", "yields", "rule", "include_imputed"):
        np.testing.assert_array_equal(getattr(back, field), getattr(draws, field))
    frame = sens.draws_to_frame(space, draws).drop(columns=["content_850511"])
    with pytest.raises(ReeflowError, match="samples"):
        sens.draws_from_frame(frame, space)


def test_config_errors_name_the_key() -> None:
    table = synthetic_commodities()
    with pytest.raises(ReeflowError, match="sensitivity.mirror_rules"):
        space_of(table, mirror_rules=["importer_first"], central_rule="max")
    with pytest.raises(ReeflowError, match="sensitivity.mirror_rules"):
        space_of(table, mirror_rules=["median"])
    with pytest.raises(ReeflowError, match="mfa.yields"):
        sens.parameter_space(table, {"metal": 0.8}, "importer_first")


def test_project_commodity_table_gives_every_group(repo_root: Path) -> None:
    table = load_commodities(repo_root / "config" / "commodities.csv")
    space = space_of(table)
    groups = sens.parameter_groups(space)
    assert {f"content_{s}" for s in ("mining", "separation", "metal", "intermediate", "final")} <= set(groups)
    assert {"share_partial", "yields", "mirror_rule", "imputation"} <= set(groups)
    partial = set(np.array(space.codes)[space.partial_codes])
    assert "253090" in partial and "280530" not in partial


# ---------------------------------------------------------------------------- the year model


def year_flows(trade: pd.DataFrame, space: sens.ParameterSpace, year: int = 2020) -> sens.YearFlows:
    return sens.aggregate_year(trade, space, year, synthetic_production(year))


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorised_draws_equal_a_row_by_row_reference(seed: int) -> None:
    table = synthetic_commodities()
    space = space_of(table, yield_range=0.3)
    trade = synthetic_trade(seed)
    draws = sens.sample_draws(space, 12, seed)
    assert set(draws.rule) == {0, 1, 2, 3} and len(set(draws.include_imputed)) == 2
    values = sens.evaluate(year_flows(trade, space), space, draws)
    for d in range(draws.n):
        yields = dict(zip(sens.YIELD_STAGES, draws.yields[:, d]))
        ref = reference_indicators(
            trade, table, draws.content[:, d], draws.share[:, d], sens.MIRROR_RULES[draws.rule[d]],
            bool(draws.include_imputed[d]), yields=yields,
        )
        for name, expected in ref.items():
            assert values[name][d] == pytest.approx(expected, rel=1e-9), (name, d)
        assert values["us_net_exporter"][d] == float(ref["us_net_exports_t"] > 0)


def test_yields_move_interdependence_but_not_net_exports() -> None:
    table = synthetic_commodities(zero_width=True)
    space = space_of(table, yield_range=0.2, mirror_rules=["importer_first"], vary_imputation=False)
    assert sens.parameter_groups(space) == ["yields"]
    values = sens.evaluate(year_flows(synthetic_trade(5), space), space, sens.sample_draws(space, 50, 1))
    assert np.ptp(values["us_net_exports_t"]) == 0
    assert np.ptp(values["us_china_interdependence"]) > 0


def test_zero_width_monte_carlo_collapses_to_the_central_result() -> None:
    table = synthetic_commodities(zero_width=True)
    space = space_of(table, yield_range=0.0, mirror_rules=["exporter_first"], central_rule="exporter_first",
                     vary_imputation=False, central_include_imputed=False)
    flows = year_flows(synthetic_trade(3), space)
    mc = sens.evaluate(flows, space, sens.sample_draws(space, 200, 99))
    central = sens.evaluate(flows, space, sens.central_draws(space))
    assert sens.parameter_groups(space) == []
    for name, values in mc.items():
        np.testing.assert_array_equal(values, np.full(200, central[name][0]))
    ref = reference_indicators(synthetic_trade(3), table, table["content_central"].to_numpy(),
                               table["share_central"].to_numpy(), "exporter_first", False)
    assert central["us_net_exports_t"][0] == pytest.approx(ref["us_net_exports_t"], rel=1e-12)


def test_zero_width_collapses_exactly_with_the_project_table(repo_root: Path) -> None:
    table = load_commodities(repo_root / "config" / "commodities.csv")
    for kind in ("content", "share"):
        table[f"{kind}_low"] = table[f"{kind}_high"] = table[f"{kind}_central"]
    space = space_of(table, yield_range=0.0, mirror_rules=["max"], central_rule="max", vary_imputation=False)
    rng = np.random.default_rng(1)
    trade = synthetic_trade(1, n=3000)
    trade["hs6"] = rng.choice(np.array(space.codes), len(trade))
    flows = year_flows(trade, space)
    mc = sens.evaluate_in_chunks(flows, space, sens.sample_draws(space, 1000, 5), chunk=300)
    central = sens.evaluate(flows, space, sens.central_draws(space))
    for name, values in mc.items():
        assert np.all(values == central[name][0]), name


def test_zero_width_monte_carlo_equals_the_mfa_headline() -> None:
    """The Monte Carlo's central case is the MFA's own result (reeflow.mfa.balance + reeflow.mfa.indicators)."""
    from reeflow.mfa.balance import year_balance
    from reeflow.mfa.indicators import headline_row

    table = synthetic_commodities(zero_width=True)
    trade = synthetic_trade(6)
    trade.loc[trade.sample(frac=0.1, random_state=1).index, "exporter"] = "WLD"  # World rows are left out
    space = space_of(table, yield_range=0.0, mirror_rules=["importer_first"], vary_imputation=False)
    mc = sens.evaluate(year_flows(trade, space), space, sens.sample_draws(space, 20, 3))
    mfa = year_balance(trade, synthetic_production(), table, 2020, MFA)
    expected = headline_row(mfa.balance_table, mfa.flows, 2020)
    for name in sens.HEADLINE:
        np.testing.assert_allclose(mc[name], float(expected[name]), rtol=1e-9, err_msg=name)


def test_zero_width_monte_carlo_equals_the_mfa_headline_with_stage_statistics() -> None:
    """Stage statistics (US separates nothing, China's separation and metal given) reach the Monte
    Carlo exactly as they reach the MFA; without them the interdependence would differ."""
    from reeflow.mfa.balance import year_balance
    from reeflow.mfa.indicators import headline_row

    table = synthetic_commodities(zero_width=True)
    trade = synthetic_trade(7)
    stats = pd.DataFrame({"year": 2020, "country": ["USA", "CHN", "CHN", "JPN"],
                          "stage": ["separation", "separation", "metal", "metal"],
                          "value_t_reo": [0.0, 5000.0, 40.0, 12.0], "source": "synthetic",
                          "edition": "synthetic", "flag": "reported"})  # fmt: skip
    production = pd.concat([synthetic_production(), stats], ignore_index=True)
    space = space_of(table, yield_range=0.0, mirror_rules=["importer_first"], vary_imputation=False)
    flows = sens.aggregate_year(trade, space, 2020, production)
    assert flows.production_stats is not None and flows.production_stats[1, 0] == 0.0
    mc = sens.evaluate(flows, space, sens.sample_draws(space, 20, 3))
    mfa = year_balance(trade, production, table, 2020, MFA)
    expected = headline_row(mfa.balance_table, mfa.flows, 2020)
    for name in sens.HEADLINE:
        np.testing.assert_allclose(mc[name], float(expected[name]), rtol=1e-9, err_msg=name)
    without = sens.evaluate(sens.aggregate_year(trade, space, 2020, synthetic_production()), space,
                            sens.central_draws(space))  # fmt: skip
    assert without["us_china_interdependence"][0] != pytest.approx(mc["us_china_interdependence"][0], rel=1e-6)


def test_central_headline_and_zero_width_monte_carlo_agree_through_one_function(monkeypatch) -> None:
    """headline_row and the Monte Carlo both call reeflow.mfa.indicators.headline_indicators (no copy
    left) and feed it the same US and China balance (statistics and quota floors included) and the
    same bilateral flows, so they agree draw by draw."""
    from reeflow.mfa import indicators
    from reeflow.mfa.balance import year_balance

    assert sens.headline_indicators is indicators.headline_indicators
    assert not hasattr(sens, "headline_from_totals") and not hasattr(sens, "_ratio_or")
    table = synthetic_commodities(zero_width=True)
    trade = synthetic_trade(8)
    stats = pd.DataFrame({"year": 2020, "country": ["USA", "CHN", "CHN"], "stage": ["separation", "metal", "final"],
                          "value_t_reo": [3.0, 5000.0, 1.0], "source": "synthetic", "edition": "synthetic",
                          "flag": ["reported", "quota", "reported"]})  # fmt: skip
    production = pd.concat([synthetic_production(), stats], ignore_index=True)
    space = space_of(table, yield_range=0.0, mirror_rules=["importer_first"], vary_imputation=False)
    flows = sens.aggregate_year(trade, space, 2020, production)
    draws = sens.sample_draws(space, 7, 4)
    totals = sens.stage_totals(flows, space, draws)
    balance = sens.focus_balance(totals, flows, draws.yields)
    groups = [name for name, _, _ in sens.FLOW_GROUPS]
    fed_by_mc = {"production": balance.production, "imports": balance.imports, "exports": balance.exports,
                 "us_to_china": totals[groups.index("us_to_china")],
                 "china_to_us": totals[groups.index("china_to_us")]}  # fmt: skip
    mfa = year_balance(trade, production, table, 2020, MFA)
    fed_by_central = indicators.headline_inputs(mfa.balance_table, mfa.flows)
    assert set(fed_by_central) == set(fed_by_mc)
    for name, central in fed_by_central.items():
        assert central.shape[-1] == 1 and central.shape[:-1] == fed_by_mc[name].shape[:-1], name
        np.testing.assert_allclose(fed_by_mc[name], np.broadcast_to(central, fed_by_mc[name].shape),
                                   rtol=1e-12, atol=1e-9, err_msg=name)  # fmt: skip
    assert fed_by_central["production"][2, 1, 0] == 5000.0  # China's metal quota binds in both

    calls: list[int] = []
    one_function = indicators.headline_indicators

    def spy(*args, **kwargs):
        calls.append(np.shape(args[0] if args else kwargs["production"])[-1])  # draws
        return one_function(*args, **kwargs)

    monkeypatch.setattr(indicators, "headline_indicators", spy)
    monkeypatch.setattr(sens, "headline_indicators", spy)
    mc = sens.evaluate(flows, space, draws)
    row = indicators.headline_row(mfa.balance_table, mfa.flows, 2020)
    assert calls == [7, 1]
    for name in indicators.HEADLINE_INDICATORS:
        np.testing.assert_allclose(mc[name], float(row[name]), rtol=1e-9, err_msg=name)
    assert mc["us_china_interdependence"][0] > 0


def test_a_year_without_mine_production_is_refused() -> None:
    space = space_of(synthetic_commodities())
    with pytest.raises(ReeflowError, match="no mine production for 2019"):
        sens.aggregate_year(synthetic_trade(1, year=2019), space, 2019, synthetic_production(2020))


def test_excluding_imputed_quantities_equals_the_trade_without_them() -> None:
    """A draw without imputed quantities sees the trade as if the imputed declarations had never been
    made: every rule (weighted_mean with weights learnt again) on the remaining declarations."""
    table = synthetic_commodities()
    space = space_of(table)
    trade = synthetic_trade(4)
    central = sens.central_draws(space, 2)
    both = sens.Draws(central.content, central.share, central.yields, central.rule, np.array([True, False]))
    with_imp, without = np.moveaxis(sens.stage_totals(year_flows(trade, space), space, both), -1, 0)
    cleaned = trade.assign(
        qty_t_importer=trade["qty_t_importer"].mask(trade["imputed_importer"]),
        qty_t_exporter=trade["qty_t_exporter"].mask(trade["imputed_exporter"]),
        imputed=False, imputed_importer=False, imputed_exporter=False,
    )  # fmt: skip
    cleaned["qty_t"] = cleaned["qty_t_importer"].fillna(cleaned["qty_t_exporter"])  # importer_first again
    cleaned_flows = sens.aggregate_year(cleaned, space, 2020, synthetic_production())
    units = year_flows(trade, space).units
    np.testing.assert_allclose(cleaned_flows.units[..., 0], units[..., 0], rtol=1e-12)
    np.testing.assert_array_equal(cleaned_flows.units[..., 0], cleaned_flows.units[..., 1])
    assert np.any(with_imp != without)
    np.testing.assert_allclose(without, sens.stage_totals(cleaned_flows, space, sens.central_draws(space))[..., 0])


def one_flow(q_imp: float, q_exp: float, imputed_importer: bool, imputed_exporter: bool, qty_t: float | None = None,
             imputed: bool | None = None) -> pd.DataFrame:
    """One SYNTHETIC US -> China flow of the compound 284690 (t basis), reconciled importer_first."""
    chosen = (q_exp if np.isnan(q_imp) else q_imp) if qty_t is None else qty_t
    flag = (imputed_exporter if np.isnan(q_imp) else imputed_importer) if imputed is None else imputed
    return pd.DataFrame({
        "year": [2020], "exporter": ["USA"], "importer": ["CHN"], "hs6": ["284690"], "qty_t": [chosen],
        "qty_items": [np.nan], "basis": ["importer"], "qty_t_importer": [q_imp], "qty_t_exporter": [q_exp],
        "items_importer": [np.nan], "items_exporter": [np.nan], "imputed": [flag],
        "imputed_importer": [imputed_importer], "imputed_exporter": [imputed_exporter], "reexport": [False],
    })  # fmt: skip


def us_exported_tonnes(trade: pd.DataFrame, rule: str, include: bool) -> float:
    """Tonnes of goods the US exports in one draw with ``rule`` and imputed quantities in or out."""
    table = synthetic_commodities(zero_width=True)
    table.loc[table["hs_code"] == "284690", ["content_low", "content_central", "content_high"]] = 1.0
    space = space_of(table, yield_range=0.0)
    central = sens.central_draws(space)
    draw = sens.Draws(central.content, central.share, central.yields,
                      np.array([sens.MIRROR_RULES.index(rule)]), np.array([include]))  # fmt: skip
    totals = sens.stage_totals(sens.aggregate_year(trade, space, 2020, synthetic_production()), space, draw)
    return float(totals[[n for n, _, _ in sens.FLOW_GROUPS].index("us_exports")].sum())


def test_exporter_first_without_imputed_keeps_the_exporters_declared_tonnes() -> None:
    """Issue 14: the exporter declared 8 t, the importer's 20 t were imputed. Central rule importer_first
    marks the flow imputed; a draw with exporter_first and imputed quantities excluded must still
    count the exporter's own 8 t (it counted 0 t when imputation was decided once per flow)."""
    trade = one_flow(q_imp=20.0, q_exp=8.0, imputed_importer=True, imputed_exporter=False)
    assert trade["imputed"].item()  # what the trade table says under the central rule
    assert us_exported_tonnes(trade, "exporter_first", include=False) == pytest.approx(8.0)
    assert us_exported_tonnes(trade, "exporter_first", include=True) == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("rule", "included", "excluded"),
    [("importer_first", 20.0, 8.0), ("exporter_first", 8.0, 8.0), ("max", 20.0, 8.0), ("weighted_mean", 14.0, 8.0)],
)
def test_each_rule_falls_back_to_the_non_imputed_side(rule: str, included: float, excluded: float) -> None:
    trade = one_flow(q_imp=20.0, q_exp=8.0, imputed_importer=True, imputed_exporter=False)
    assert us_exported_tonnes(trade, rule, include=True) == pytest.approx(included)  # one flow: weight 0.5
    assert us_exported_tonnes(trade, rule, include=False) == pytest.approx(excluded)
    # the other way round: the exporter's quantity imputed, the importer's declared
    mirrored = one_flow(q_imp=8.0, q_exp=20.0, imputed_importer=False, imputed_exporter=True)
    assert us_exported_tonnes(mirrored, rule, include=False) == pytest.approx(8.0)


@pytest.mark.parametrize("rule", sens.MIRROR_RULES)
def test_both_sides_imputed_or_an_imputed_baci_row_count_nothing_without_imputation(rule: str) -> None:
    both = one_flow(q_imp=20.0, q_exp=8.0, imputed_importer=True, imputed_exporter=True)
    assert us_exported_tonnes(both, rule, include=False) == 0.0
    # BACI: no declarations, one reconciled quantity; the row's flag decides
    baci = one_flow(q_imp=np.nan, q_exp=np.nan, imputed_importer=False, imputed_exporter=False, qty_t=5.0,
                    imputed=True)  # fmt: skip
    assert us_exported_tonnes(baci, rule, include=False) == 0.0
    assert us_exported_tonnes(baci, rule, include=True) == pytest.approx(5.0)
    reported = baci.assign(imputed=False)
    assert us_exported_tonnes(reported, rule, include=False) == pytest.approx(5.0)


def test_bad_trade_table_names_file_and_column() -> None:
    space = space_of(synthetic_commodities())
    with pytest.raises(ReeflowError, match=r"my\.parquet.*qty_t_exporter"):
        sens.aggregate_year(synthetic_trade(1).drop(columns=["qty_t_exporter"]), space, 2020, source="my.parquet")


# ---------------------------------------------------------------------------- summaries, OAT, Sobol


def test_summaries_are_ordered_and_probabilities_bounded() -> None:
    space = space_of(synthetic_commodities())
    draws = sens.sample_draws(space, 400, 8)
    long = pd.concat(
        [sens.indicators_long(sens.evaluate(year_flows(synthetic_trade(s, year=y), space, y), space, draws), y)
         for s, y in ((5, 2019), (6, 2020))],
        ignore_index=True,
    )
    summary = sens.summarise_draws(long)
    assert set(summary["indicator"]) == set(sens.HEADLINE)
    assert (summary["p05"] <= summary["p50"]).all() and (summary["p50"] <= summary["p95"]).all()
    prob = sens.net_exporter_probability(long)
    assert list(prob["year"]) == [2019, 2020]
    assert prob["probability"].between(0, 1).all()
    flags = long[long["indicator"] == "us_net_exporter"]
    assert set(flags["value"]) <= {0.0, 1.0}
    shares = long[long["indicator"].isin(["china_share_of_us_exports", "us_china_interdependence"])]
    assert shares["value"].between(0, 1).all()


def test_one_at_a_time_brackets_the_central_value_for_a_pure_exporter() -> None:
    table = synthetic_commodities()
    space = space_of(table)
    trade = synthetic_trade(7)
    trade = trade[trade["importer"] != "USA"]  # the US only exports: net exports rise with content
    flows = year_flows(trade, space)
    oat = sens.one_at_a_time({2020: flows}, space)
    central = sens.evaluate(flows, space, sens.central_draws(space))
    net = oat[oat["indicator"] == "us_net_exports_t"].set_index("parameter")
    assert (net["central_value"] == central["us_net_exports_t"][0]).all()
    for group in ("content_mining", "content_separation", "share_partial"):
        assert net.loc[group, "low_value"] <= net.loc[group, "central_value"] <= net.loc[group, "high_value"]
    assert net.loc["mirror_rule", "low_value"] <= net.loc["mirror_rule", "high_value"]
    # imputation matters, in either direction: without imputed quantities a rule may fall back to the
    # other side's (larger or smaller) declaration
    assert net.loc["imputation", "low_value"] != net.loc["imputation", "high_value"]
    assert net.loc["yields", "low_value"] == net.loc["yields", "high_value"]  # trade sums ignore yields
    assert set(oat["parameter"]) == set(sens.parameter_groups(space))


@pytest.mark.parametrize("a, b", [(1.0, 2.0), (3.0, 0.5)])
def test_sobol_indices_of_an_additive_model_match_the_analytic_values(a: float, b: float) -> None:
    table = sens.sobol_table(["x1", "x2"], lambda x: {"y": a * x[:, 0] + b * x[:, 1]}, n_base=1024, seed=3)
    s1 = table.set_index("parameter")["S1"]
    st_ = table.set_index("parameter")["ST"]
    expected = {"x1": a**2 / (a**2 + b**2), "x2": b**2 / (a**2 + b**2)}
    for name, value in expected.items():
        assert s1[name] == pytest.approx(value, abs=0.03)
        assert st_[name] == pytest.approx(value, abs=0.03)


def test_sobol_on_trade_finds_the_only_varying_group() -> None:
    table = synthetic_commodities(zero_width=True)
    table.loc[table["hs_code"] == "284690", ["content_low", "content_high"]] = [0.5, 1.0]
    space = space_of(table, yield_range=0.0, mirror_rules=["importer_first"], vary_imputation=False)
    assert sens.parameter_groups(space) == ["content_separation"]
    out = sens.sobol_by_year({2020: year_flows(synthetic_trade(2), space)}, space, 64, 1)
    net = out[out["indicator"] == "us_net_exports_t"]
    assert list(net["year"]) == [2020]
    assert net["S1"].iloc[0] == pytest.approx(1.0, abs=0.05) and net["ST"].iloc[0] == pytest.approx(1.0, abs=0.05)


# ---------------------------------------------------------------------------- file-level steps


def test_file_steps_write_the_contracted_tables(tmp_path: Path) -> None:
    commodities = tmp_path / "synthetic-commodities.csv"
    table = synthetic_commodities().assign(description="synthetic", revisions="", include=True, citation="synthetic")
    table.to_csv(commodities, index=False)
    production = tmp_path / "synthetic-production.parquet"
    pd.concat([synthetic_production(2019), synthetic_production(2020)]).to_parquet(production)
    space = sens.space_from_config(commodities, SensitivitySpace.from_mapping({
        "yields": YIELDS,
        "trade": {"mirror_rule": "importer_first", "impute_missing_weights": True},
        "sensitivity": {"yield_range": 0.1, "mirror_rules": list(sens.MIRROR_RULES), "vary_imputation": True,
                        "p_include_imputed": 0.5},
    }))  # fmt: skip
    sens.write_samples(space, 40, 2, tmp_path / "samples.parquet")
    year_paths = []
    for seed, year in ((1, 2019), (2, 2020)):
        trade_path = tmp_path / f"trade-{year}.parquet"
        synthetic_trade(seed, year=year).to_parquet(trade_path)
        year_paths.append(tmp_path / f"draws-{year}.parquet")
        sens.run_year(trade_path, production, tmp_path / "samples.parquet", space, year, year_paths[-1])
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("draws", "parquet"), ("unc", "csv"), ("prob", "csv"))}
    sens.collect(year_paths, out["draws"], out["unc"], out["prob"])
    draws = pd.read_parquet(out["draws"])
    assert list(draws.columns) == ["draw", "year", "indicator", "value"]
    assert len(draws) == 2 * 40 * len(sens.HEADLINE)
    assert list(pd.read_csv(out["unc"]).columns[:5]) == ["year", "indicator", "p05", "p50", "p95"]
    assert list(pd.read_csv(out["prob"]).columns) == ["year", "probability"]
    trade_2020 = {2020: str(tmp_path / "trade-2020.parquet")}
    oat = sens.run_oat(trade_2020, production, space, tmp_path / "oat.csv")
    assert list(oat.columns[:6]) == ["indicator", "year", "parameter", "low_value", "central_value", "high_value"]
    sobol = sens.run_sobol(trade_2020, production, space, 32, 1, tmp_path / "sobol.csv", num_resamples=20)
    assert list(sobol.columns) == ["year", "indicator", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert not list(tmp_path.glob("*.part"))
