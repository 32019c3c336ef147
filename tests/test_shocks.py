"""Supply shocks (reeflow.mfa.shocks) on hand-built networks whose answers are known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from reeflow.commodities import STAGES
from reeflow.io import ReeflowError
from reeflow.mfa import shocks as sh
from reeflow.settings import ShockSettings

MINING, SEPARATION = 0, 1
S = len(STAGES)


def network(countries: list[str], production: dict[tuple[int, str], float],
            flows: dict[tuple[int, str, str], float]) -> sh.Network:  # fmt: skip
    pos = {c: i for i, c in enumerate(countries)}
    p = np.zeros((S, len(countries)))
    z = np.zeros((S, len(countries), len(countries)))
    for (s, c), v in production.items():
        p[s, pos[c]] = v
    for (s, e, i), v in flows.items():
        z[s, pos[e], pos[i]] = v
    return sh.Network(tuple(countries), p, z)


def chain() -> sh.Network:
    """A mines 100 and ships 60 of ore to B; B separates its ore (yield 0.95: 57) and ships 30 to C."""
    return network(["A", "B", "C"], {(MINING, "A"): 100, (SEPARATION, "A"): 38, (SEPARATION, "B"): 57},
                   {(MINING, "A", "B"): 60, (SEPARATION, "B", "C"): 30})  # fmt: skip


def two_suppliers() -> sh.Network:
    """B buys ore from A (60) and D (20); A and D keep the rest."""
    return network(["A", "B", "D"], {(MINING, "A"): 100, (MINING, "D"): 40, (SEPARATION, "B"): 76},
                   {(MINING, "A", "B"): 60, (MINING, "D", "B"): 20})  # fmt: skip


def value(net: sh.Network, arr: np.ndarray, stage: int, country: str, k: int = 0) -> float:
    return float(arr[k, stage, net.countries.index(country)])


def test_half_cut_propagates_down_the_stages_and_to_the_customer() -> None:
    net = chain()
    batch = sh.shock_batch([sh.ShockSpec("half", exporters=("A",), importers=("B",), stages=("mining",),
                                         share=0.5)], net)  # fmt: skip
    first = sh.first_order(net, batch)
    assert value(net, first, MINING, "B") == pytest.approx(30)
    assert first.sum() == pytest.approx(30)  # first order: only where the shock strikes
    prop = sh.cascade(net, batch, 0.0).supply_shortfall
    assert value(net, prop, MINING, "B") == pytest.approx(30)
    assert value(net, prop, SEPARATION, "B") == pytest.approx(28.5)  # B makes half its oxide
    assert value(net, prop, SEPARATION, "C") == pytest.approx(15)  # and ships half to C
    assert value(net, prop, MINING, "A") == pytest.approx(0)  # losing exports is not a shortfall
    assert value(net, prop, SEPARATION, "A") == pytest.approx(0)


def test_rerouting_takes_spare_exports_of_the_other_supplier_only() -> None:
    net = two_suppliers()
    batch = sh.shock_batch([sh.ShockSpec("cut", exporters=("A",), importers=("B",))], net)
    result = sh.cascade(net, batch, 0.5)
    # B lost 60 of 80 of ore; D (the only uncut exporter) can spare 0.5 x 20 = 10.
    assert value(net, result.rerouted, MINING, "B") == pytest.approx(10)
    assert value(net, result.supply_shortfall, MINING, "B") == pytest.approx(50)
    # B's separation runs on 30 of its 80 t of ore: 76 x 30/80 = 28.5 made, 47.5 short.
    assert value(net, result.supply_shortfall, SEPARATION, "B") == pytest.approx(76 - 28.5)
    propagated = sh.cascade(net, batch, 0.0)
    assert value(net, propagated.supply_shortfall, SEPARATION, "B") == pytest.approx(76 * 0.75)


def test_a_mine_outage_passes_to_the_customer_in_proportion() -> None:
    net = two_suppliers()
    batch = sh.shock_batch([sh.ShockSpec("outage", kind="mine", exporters=("D",), share=0.5)], net)
    assert value(net, sh.first_order(net, batch), MINING, "D") == pytest.approx(20)
    prop = sh.cascade(net, batch, 0.0).supply_shortfall
    assert value(net, prop, MINING, "B") == pytest.approx(10)  # D ships half of its 20
    rerouted = sh.cascade(net, batch, 0.1)
    # B asks for its 10 t by export shares: 7.5 from A, 2.5 from D. D, short 20 t of its own ore,
    # asks A for 10 (the only other exporter). A can spare 0.1 x 60 = 6 for 17.5 asked: each gets
    # 6/17.5 of its request; D can spare 0.1 x 20 x (its supply ratio 0.5) = 1 of B's 2.5.
    assert value(net, rerouted.rerouted, MINING, "B") == pytest.approx(7.5 * 6 / 17.5 + 1.0)
    assert value(net, rerouted.rerouted, MINING, "D") == pytest.approx(10 * 6 / 17.5)
    assert value(net, rerouted.supply_shortfall, MINING, "D") == pytest.approx(20 - 10 * 6 / 17.5)


def test_reroute_rations_every_request_in_the_same_proportion() -> None:
    request = np.array([[0.0, 10.0, 30.0]])
    spare = np.array([[20.0, 0.0, 0.0]])
    weights = np.zeros((1, 3, 3))
    weights[0, 0, 1] = weights[0, 0, 2] = 1.0
    received, delivered = sh.reroute(request, spare, weights)
    np.testing.assert_allclose(received, [[0.0, 5.0, 15.0]])
    np.testing.assert_allclose(delivered, [[20.0, 0.0, 0.0]])


def random_network(seed: int, n: int = 7) -> sh.Network:
    rng = np.random.default_rng(seed)
    production = rng.uniform(0, 100, (S, n)) * (rng.random((S, n)) < 0.6)
    flows = rng.uniform(0, 40, (S, n, n)) * (rng.random((S, n, n)) < 0.3)
    for s in range(S):
        np.fill_diagonal(flows[s], 0.0)
    return sh.Network(tuple(f"C{i}" for i in range(n)), production, flows)


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_paths_equal_the_definitions(seed: int) -> None:
    """Woodbury from the baseline inverse = a dense solve per shock; sparse rerouting = dense weights."""
    rng = np.random.default_rng(seed)
    net = random_network(seed)
    specs = [sh.ShockSpec("ban", exporters=("C0", "C1"), share=0.7), sh.ShockSpec("l", exporters=("C3",),
             importers=("C4", "C5"), stages=("mining", "metal"))]  # fmt: skip
    batch = sh.shock_batch(specs, net)
    n = len(net.countries)
    for s in range(S):
        cuts = sh.stage_cuts(batch, s)
        cut = batch.cut(s, n)
        rhs = rng.uniform(0, 5, (batch.size, n))
        system = net.systems[s]
        fixed = np.zeros_like(rhs)
        fast = sh.deficit(system, net.flows[s], cuts, rhs, fixed)
        for k in range(batch.size):
            a = np.diag(net.supply[s] * (1 + sh.LEAK)) - (net.flows[s] * (1 - cut[k])).T
            a[~system.traced] = 0.0
            untraced = np.nonzero(~system.traced)[0]
            a[untraced, untraced] = 1.0
            b = np.where(system.traced, rhs[k], 0.0)
            np.testing.assert_allclose(fast[k], np.clip(np.linalg.solve(a, b), 0, 1), atol=1e-9)
        request, spare = rng.uniform(0, 10, (2, batch.size, n))
        dense = sh.reroute(request, spare, sh.reroute_weights(net.exports[s], 1 - cut))
        sparse = sh.reroute_cut(request, spare, net.exports[s], cuts)
        np.testing.assert_allclose(sparse[0], dense[0], atol=1e-9)
        np.testing.assert_allclose(sparse[1], dense[1], atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_named_shocks_and_link_failures_in_one_batch_equal_two_batches(seed: int) -> None:
    """The year's tables run both sets as one cascade (ShockSets.both): each shock must come out as
    if it ran alone, whatever the rank of its neighbours in the batch (a two-exporter scenario beside
    single links and a mine outage)."""
    net = random_network(seed)
    specs = [sh.ShockSpec("pair", exporters=("C0", "C1"), importers=("C0", "C1")),
             sh.ShockSpec("mine", kind="mine", exporters=("C2",), share=0.5),
             sh.ShockSpec("ban", exporters=("C3",), share=0.4)]  # fmt: skip
    sets = sh.shock_sets(net, specs, max_links=6)
    assert sets.both.size == len(specs) + sets.links.size
    for spare in (0.0, 0.3):
        both = sh.cascade(net, sets.both, spare)
        named, links = sh.cascade(net, sets.named, spare), sh.cascade(net, sets.links, spare)
        for field in ("supply_shortfall", "use_shortfall", "rerouted", "ratio"):
            np.testing.assert_allclose(getattr(both, field),
                                       np.concatenate([getattr(named, field), getattr(links, field)]), atol=1e-12)
        expected = np.tensordot(sets.links.weights, links.use_shortfall, axes=(0, 0))
        np.testing.assert_allclose(sets.split(both.use_shortfall)[-1], expected, atol=1e-12)


def test_a_shock_of_size_zero_changes_nothing() -> None:
    net = two_suppliers()
    specs = [sh.ShockSpec("zero", exporters=("A",), share=0.0), sh.ShockSpec("m", kind="mine", exporters=("D",),
                                                                             share=0.0)]  # fmt: skip
    batch = sh.shock_batch(specs, net)
    run = sh.run_batch(net, batch, np.full(S, 0.5))
    for arr in (run.first, run.propagated.supply_shortfall, run.rerouted.supply_shortfall, run.rerouted.rerouted):
        assert np.abs(arr).max() == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_conservation_on_random_networks(seed: int) -> None:
    """Rerouted supply never exceeds the spare exports or the request; nothing is created."""
    rng = np.random.default_rng(seed)
    net = random_network(seed)
    specs = [sh.ShockSpec("ban", exporters=("C0", "C1"), share=float(rng.uniform())),
             sh.ShockSpec("mine", kind="mine", exporters=("C2",), share=1.0)]  # fmt: skip
    batch = sh.shock_batch(specs, net)
    spare = rng.uniform(0, 1, S)
    result = sh.cascade(net, batch, spare)
    propagated = sh.cascade(net, batch, 0.0)
    assert (result.rerouted >= -1e-9).all()
    assert (result.supply_shortfall >= -1e-9).all() and (result.use_shortfall >= -1e-9).all()
    assert (result.use_shortfall <= net.own_use[None] + 1e-9).all()  # never more than was used
    assert (result.supply_shortfall <= net.supply[None] + 1e-9).all()
    # rerouted at a stage never exceeds what the exporters could spare at that stage
    spare_total = (spare[:, None] * net.exports).sum(axis=1)
    assert (result.rerouted.sum(axis=2) <= spare_total[None] + 1e-9).all()
    # rerouting helps at the first stage and never makes the world worse off overall
    assert (result.use_shortfall[:, 0].sum(axis=1) <= propagated.use_shortfall[:, 0].sum(axis=1) + 1e-9).all()


def test_a_trade_loop_without_production_is_solved_not_singular() -> None:
    net = network(["A", "B", "C"], {(MINING, "A"): 10},
                  {(MINING, "A", "B"): 5, (MINING, "B", "C"): 50, (MINING, "C", "B"): 50})  # fmt: skip
    batch = sh.shock_batch([sh.ShockSpec("cut", exporters=("A",), importers=("B",))], net)
    result = sh.cascade(net, batch, 0.0)
    assert np.isfinite(result.supply_shortfall).all()
    share = result.supply_shortfall[0, MINING] / net.supply[MINING]
    assert ((share >= 0) & (share <= 1 + 1e-9)).all()
    assert share[1] == pytest.approx(1.0, abs=1e-6)  # the loop's only source is gone


def test_reallocation_keeps_every_country_whole_but_removes_the_pair_links() -> None:
    net = network(["CHN", "USA", "MYS", "JPN"], {(MINING, "USA"): 50, (MINING, "CHN"): 100},
                  {(MINING, "USA", "CHN"): 40, (SEPARATION, "CHN", "USA"): 8, (SEPARATION, "CHN", "JPN"): 20,
                   (SEPARATION, "MYS", "JPN"): 5})  # fmt: skip
    cf = sh.counterfactual(net, "reallocate", ("USA", "CHN"))
    usa, chn = net.index("USA"), net.index("CHN")
    assert cf.flows[:, usa, chn].sum() == 0 and cf.flows[:, chn, usa].sum() == 0
    np.testing.assert_allclose(cf.own_use, net.own_use)
    np.testing.assert_allclose(cf.production, net.production)
    assert cf.flows.sum() == pytest.approx(net.flows.sum() + 48)  # each tonne crosses two borders now


def test_removal_counterfactual_drops_the_links_and_their_downstream_use() -> None:
    net = network(["A", "B", "C"], {(MINING, "A"): 100, (SEPARATION, "B"): 57},
                  {(MINING, "A", "B"): 60, (SEPARATION, "B", "C"): 30})  # fmt: skip
    cf = sh.counterfactual(net, "remove", ("A", "B"))
    assert cf.flows[MINING, 0, 1] == 0
    assert cf.production[SEPARATION, 1] == pytest.approx(0, abs=1e-6)  # B has no ore left to separate
    assert cf.flows[SEPARATION, 1, 2] == pytest.approx(0, abs=1e-6)
    assert cf.production[MINING, 0] == 100  # A still mines: its ore stays home
    with pytest.raises(ReeflowError, match="counterfactuals"):
        sh.counterfactual(net, "nonsense", ("A", "B"))


def test_link_failures_are_weighted_by_size() -> None:
    batch = sh.link_failures(two_suppliers(), max_links=10)
    assert batch.names == ["A->B", "D->B"]
    np.testing.assert_allclose(batch.weights, [0.75, 0.25])
    assert len(sh.link_failures(two_suppliers(), max_links=1).names) == 1


def settings(**over: object) -> ShockSettings:
    base = dict(
        scenarios=[dict(name="ban", kind="links", exporters=["CHN"], importers=[], stages=["separation"], share=1.0)],
        spare_fraction=dict.fromkeys(STAGES, 0.2), spare_sweep=[0.0, 1.0], max_links=10,
        counterfactuals=["reallocate", "remove"], pair=["USA", "CHN"], draws=5, seed=1, flow_sigma=0.2,
        production_sigma=0.1, spare_range=0.5,
    )  # fmt: skip
    return ShockSettings.from_mapping(base | over)


def world_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """SYNTHETIC balance and flows tables of one year (USA ore to China, China oxide to Japan)."""
    later = [(c, st, v) for c, v in (("CHN", 150.0), ("JPN", 28.0), ("USA", 5.0)) for st in STAGES[2:]]
    balance = pd.DataFrame({
        "country": ["USA", "CHN", "CHN", "JPN", "MYS", "MYS", *(c for c, _, _ in later)],
        "stage": ["mining", "mining", "separation", "separation", "mining", "separation", *(st for _, st, _ in later)],
        "production_t": [40.0, 200.0, 228.0, 0.0, 10.0, 9.5, *(v for _, _, v in later)],
    })  # fmt: skip
    flows = pd.DataFrame({
        "stage": ["mining", "separation", "separation", "separation"],
        "exporter": ["USA", "CHN", "MYS", "CHN"], "importer": ["CHN", "JPN", "JPN", "USA"],
        "reo_t": [40.0, 30.0, 5.0, 6.0],
    })  # fmt: skip
    return balance, flows


def test_year_tables_always_run_usa_chn_cut_and_follow_the_contract() -> None:
    net = sh.network_from_tables(*world_tables())
    table = sh.shocks_year(net, settings(), 2022)
    assert set(table["scenario"]) >= {"usa_chn_cut", "ban", sh.EXPECTED_LINK_FAILURE}
    assert set(table["order"]) == set(sh.ORDERS)
    cut = table[(table["network"] == "actual") & (table["scenario"] == "usa_chn_cut")]
    first = cut[(cut["order"] == "first_order") & (cut["stage"] == "mining")]
    assert first.set_index("country")["shortfall_t"].to_dict() == {"CHN": pytest.approx(40.0)}
    # China short of ore makes less oxide, so the US and Japan get less of China's oxide
    prop = cut[(cut["order"] == "propagated") & (cut["stage"] == "separation")].set_index("country")
    assert prop.loc["JPN", "shortfall_t"] == pytest.approx(30 * 40 / 240)
    assert prop.loc["USA", "shortfall_share"] == pytest.approx(40 / 240)
    stab = sh.stabilisation_year(net, settings(draws=3), 2022)
    world = stab[(stab["country"] == sh.WORLD) & (stab["rerouting"] == "configured")]
    assert set(world["counterfactual"]) == {"reallocate", "remove"} and (world["n_draws"] == 3).all()
    assert np.allclose(world["stabilisation"],
                       world["counterfactual_shortfall_share"] - world["actual_shortfall_share"])  # fmt: skip
    assert (world["p05"] <= world["p95"]).all()
    assert set(stab["rerouting"]) == {"configured", "uniform 0", "uniform 1"}


def test_bad_scenarios_name_the_scenario_and_the_fix() -> None:
    with pytest.raises(ReeflowError, match="'x'.*stage"):
        sh.scenario_specs(settings(scenarios=[dict(name="x", kind="links", exporters=["CHN"], importers=[],
                                                   stages=["smelting"], share=1.0)]))  # fmt: skip
    with pytest.raises(ReeflowError, match="share"):
        sh.scenario_specs(settings(scenarios=[dict(name="x", kind="mine", exporters=["CHN"], importers=[],
                                                   stages=[], share=2.0)]))  # fmt: skip
    with pytest.raises(ReeflowError, match=r"shocks.scenarios\[y\].share"):
        sh.scenario_specs(settings(scenarios=[dict(name="y", kind="mine", exporters=["CHN"], importers=[],
                                                   stages=[])]))  # fmt: skip
    with pytest.raises(ReeflowError, match="spare_fraction"):
        sh.spare_vector({"mining": 0.1})


def test_schema_defaults_build_the_settings_and_run_usa_chn_cut(repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    validate(config, str(repo_root / "workflow/schemas/config.schema.yaml"))
    settings = ShockSettings.from_mapping(config["shocks"])
    names = [s.name for s in sh.scenario_specs(settings)]
    assert names[0] == "usa_chn_cut" and len(names) == len(set(names))
    assert sh.spare_vector(settings.spare_fraction).shape == (S,)
    partial = dict(config["shocks"])
    partial.pop("spare_sweep")
    with pytest.raises(ReeflowError, match=r"config shocks\.spare_sweep: missing"):
        ShockSettings.from_mapping(partial)
    # a configured list without usa_chn_cut still runs it; the figure falls back on it too
    other = settings.__class__(**{**settings.__dict__, "scenarios": (config["shocks"]["scenarios"][2],)})
    assert [s.name for s in sh.scenario_specs(other)][0] == "usa_chn_cut"
    item = sh.shock_figure_scenario({"figure_scenario": "usa_chn_cut", "scenarios": []})
    assert item["exporters"] == ["USA"] and item["importers"] == ["CHN"]
    with pytest.raises(ReeflowError, match="figure_scenario"):
        sh.shock_figure_scenario({"figure_scenario": "nope", "scenarios": []})


def test_figures_draw_full_and_empty_tables(tmp_path: Path) -> None:
    from reeflow.report import shock_plots
    from reeflow.schemas import SHOCK_COLUMNS, STABILISATION_COLUMNS, empty_table

    balance, flows = world_tables()
    net = sh.network_from_tables(balance, flows)
    one, stab_one = sh.shocks_year(net, settings(), 2022), sh.stabilisation_year(net, settings(draws=2), 2022)
    shocks = pd.concat([one.assign(year=2021), one])
    stab = pd.concat([stab_one.assign(year=2021), stab_one])
    table = shock_plots.final_shortfall(shocks, "JPN")
    assert list(table.index) == [2021, 2022] and (table["usa_chn_cut"] > 0).all()
    fig = shock_plots.plot_shocks(shocks, stab, "SYNTHETIC", ["USA", "JPN"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    shock_plots.save_figure(fig, tmp_path / "a.png", dpi=50)
    flows_full = flows.assign(year=2022, hs6="284690", basis="importer")
    balance_full = balance.assign(year=2022, imports_t=0.0, exports_t=0.0, apparent_consumption_t=0.0,
                                  net_exports_t=0.0)  # fmt: skip
    item = sh.shock_figure_scenario({"figure_scenario": "usa_chn_cut", "scenarios": []})
    lost = shock_plots.shortfall_by_country(shocks, 2022, "usa_chn_cut", "propagated")
    assert lost["CHN"] == pytest.approx(40 / 240, rel=1e-6)  # every stage of China loses 1/6
    shock_plots.save_figure(
        shock_plots.plot_shock_network(flows_full, balance_full, shocks, 2022, item, "SYNTHETIC"), tmp_path / "b.png",
        dpi=50,
    )
    empty = shock_plots.plot_shocks(empty_table(SHOCK_COLUMNS), empty_table(STABILISATION_COLUMNS), "SYNTHETIC")
    texts = [t.get_text() for ax in empty.axes for t in ax.texts]
    assert any(t.startswith("No data") for t in texts)
    shock_plots.save_figure(empty, tmp_path / "c.png", dpi=50)
    assert (tmp_path / "b.png").stat().st_size > 5_000


@pytest.mark.parametrize(("n", "count", "ties"), [(0, 5, False), (3, 5, True), (1000, 50, False), (5000, 50, True)])
def test_largest_links_first_match_a_stable_sort(n: int, count: int, ties: bool) -> None:
    """The partition shortcut picks the same links in the same order as sorting every link."""
    from reeflow.mfa.shocks import _largest_first

    rng = np.random.default_rng(n)
    values = rng.integers(0, 20, n).astype(float) if ties else rng.random(n)
    np.testing.assert_array_equal(_largest_first(values, count), np.argsort(-values, kind="stable")[:count])
