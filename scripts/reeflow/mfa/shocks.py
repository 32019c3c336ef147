"""Supply shocks on one year's stage networks: first order, propagated, and after rerouting.

Why this module exists: the disruption test of reeflow.mfa.tracing says which share of a country's
supply passed through a cut link, but nothing moves in response. Here a shock *removes* material and
the network answers, so that "US-China interdependence stabilises supply" becomes a number: the
expected shortfall of a network with the US-China links against the same network without them.

The network of a year (``Network``): per stage s (mining .. final) each country's production
P[s] and the bilateral flows Z[s, e, i] (t REO-eq, from the MFA's balance and flows tables).
Supply S = P + imports; own use U = max(S - exports, 0) (apparent consumption, what feeds the next
stage).

The model (``cascade``), stage by stage:

1. **Shock.** A shock cuts a share of some links (exporter -> importer, at some stages), or a share of
   some countries' mine production.
2. **Propagation within the stage (proportional rule).** A country short of supply ships
   proportionally less: with x_c = its supply after / before, exports from c scale by x_c, so
   S_c x_c = P1_c + sum_e Z_kept[e, c] x_e (P1: production after the shock and after upstream
   losses; Z_kept: Z without the cut share). This is the system of origin tracing,
   (diag(S) - Z_kept^T) x = P1; it is solved for the deficit d = 1 - x, whose right-hand side is
   exactly zero for a zero shock (so nothing changes). Supply in a trade loop that no production
   feeds (mirror-gap artefacts) cannot be traced: such countries take only their first-order loss.
3. **Rerouting** (``reroute``). Each country's lost own use, d_c U_c, is asked for from the other
   exporters of the stage *in proportion to their baseline exports at that stage* (not over a cut
   link; a partly cut link keeps its remaining share of the weight). An exporter can spare
   ``spare_fraction[s]`` x its baseline exports x its own supply ratio (a shocked exporter has less
   to spare): idle capacity or stocks, on top of what it already ships. Where requests exceed the
   spare exports, every request is served in the same proportion; there is one round (what an
   exporter cannot deliver is not asked for elsewhere). Rerouted material goes to the importer's own
   use, is never re-exported within the stage, and never exceeds the spare exports or the request:
   nothing is created.
4. **Down the stages.** Production at s+1 scales with the country's own use at s after rerouting
   (its input mix: domestic production used + imports): P1[s+1] = P[s+1] x U_after / U.

Three orders are reported per country and stage (supply shortfall, t and share of supply):
``first_order`` the tonnes removed by the shock where it strikes (no propagation), ``propagated``
steps 2 and 4 without rerouting (spare fraction 0), ``rerouted`` with rerouting.

Every function takes a *batch* of K shocks and works on (K, n, n) arrays (numpy's batched solve),
so a year's hundreds of shocks cost a few array operations per stage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from reeflow.commodities import STAGES
from reeflow.countries import WORLD
from reeflow.io import ReeflowError
from reeflow.schemas import (
    ACTUAL_NETWORK,
    EXPECTED_LINK_FAILURE,
    SHOCK_COLUMNS,
    SHOCK_COUNTERFACTUALS,
    SHOCK_ORDERS,
    STABILISATION_COLUMNS,
    empty_table,
    typed,
)
from reeflow.settings import ShockSettings, require_keys

log = logging.getLogger(__name__)

ORDERS = SHOCK_ORDERS
COUNTERFACTUALS = SHOCK_COUNTERFACTUALS
ACTUAL = ACTUAL_NETWORK
# A tiny leak on the diagonal keeps the system solvable when a cut leaves a trade loop without any
# source (its supply then decays to zero, which is the limit the leak gives); relative to supply.
LEAK = 1e-9
MIN_T = 1e-9  # tonnes below a milligram are treated as zero


# ----------------------------------------------------------------------------------------------
# The network and the shocks
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Network:
    """One year's stage networks: production (S, n) and dense flows (S, n, n), t REO-eq."""

    countries: tuple[str, ...]
    production: np.ndarray
    flows: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.countries)
        if self.production.shape[1:] != (n,) or self.flows.shape != (self.production.shape[0], n, n):
            raise ReeflowError("internal: network arrays do not match the country list")

    # Derived arrays are computed once per network (cached_property writes the instance dict, which
    # a frozen dataclass allows): every batch of shocks on the network shares them.
    @cached_property
    def imports(self) -> np.ndarray:
        return self.flows.sum(axis=1)

    @cached_property
    def exports(self) -> np.ndarray:
        return self.flows.sum(axis=2)

    @cached_property
    def supply(self) -> np.ndarray:
        return self.production + self.imports

    @cached_property
    def own_use(self) -> np.ndarray:
        return np.maximum(self.supply - self.exports, 0.0)

    @cached_property
    def systems(self) -> list[StageSystem]:
        """Each stage's baseline system, inverted once."""
        return [stage_system(self.supply[s], self.production[s], self.flows[s]) for s in range(len(self.production))]

    def index(self, country: str) -> int | None:
        try:
            return self.countries.index(country)
        except ValueError:
            return None


@dataclass(frozen=True)
class ShockSpec:
    """A named shock as configured: cut ``share`` of the flows from ``exporters`` to ``importers``
    (empty = every destination) at ``stages`` (empty = every stage), or (kind ``mine``) of the mine
    production of ``exporters``."""

    name: str
    kind: str = "links"
    exporters: tuple[str, ...] = ()
    importers: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    share: float = 1.0

    @classmethod
    def from_mapping(cls, item: Mapping[str, Any]) -> ShockSpec:
        """From one item of config shocks.scenarios (the schema has filled every key)."""
        name = str(item.get("name", "?"))
        values = require_keys(item, f"shocks.scenarios[{name}]", ["name", "kind", "exporters", "importers",
                                                                   "stages", "share"])
        spec = cls(
            name=str(values["name"]),
            kind=str(values["kind"]),
            exporters=tuple(str(c) for c in values["exporters"]),
            importers=tuple(str(c) for c in values["importers"]),
            stages=tuple(str(s) for s in values["stages"]),
            share=float(values["share"]),
        )
        spec.check()
        return spec

    def check(self) -> None:
        """Bad settings name the scenario and the fix."""
        where = f"config shocks.scenarios {self.name!r}"
        if self.kind not in ("links", "mine"):
            raise ReeflowError(f"{where}: kind {self.kind!r}; use links or mine")
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise ReeflowError(f"{where}: unknown stage(s) {bad}; use {list(STAGES)}")
        if not 0.0 <= self.share <= 1.0:
            raise ReeflowError(f"{where}: share {self.share} must be in [0, 1]")
        if not self.exporters:
            raise ReeflowError(f"{where}: give exporters (the countries whose exports or mines are cut)")


@dataclass
class ShockBatch:
    """K shocks: cut shares as sparse entries (shock, stage, exporter, importer, share) and the
    share of each country's mine production lost (K, n)."""

    names: list[str]
    entries: np.ndarray  # (m, 4) int: shock, stage, exporter, importer
    shares: np.ndarray  # (m,) float in [0, 1]
    mine_loss: np.ndarray  # (K, n)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def size(self) -> int:
        return len(self.names)

    def followed_by(self, other: ShockBatch) -> ShockBatch:
        """This batch and then ``other``, as one batch (the cascade treats every shock alone, so one
        call on both costs one pass of array operations per stage instead of two)."""
        later = other.entries.copy()
        later[:, 0] += self.size
        return ShockBatch(
            [*self.names, *other.names], np.concatenate([self.entries, later]),
            np.concatenate([self.shares, other.shares]), np.concatenate([self.mine_loss, other.mine_loss]),
        )  # fmt: skip

    def cut(self, stage: int, n: int) -> np.ndarray:
        """(K, n, n) cut share at one stage."""
        out = np.zeros((self.size, n, n))
        rows = self.entries[:, 1] == stage
        k, _, e, i = self.entries[rows].T
        np.maximum.at(out, (k, e, i), self.shares[rows])
        return out


def shock_batch(specs: Sequence[ShockSpec], net: Network) -> ShockBatch:
    """The configured shocks on this year's network (countries absent this year cut nothing).

    Built once per country list: the Monte Carlo's drawn and counterfactual networks all share the
    year's countries (the arrays are read-only, since the batch is shared)."""
    for spec in specs:
        spec.check()
    return _shock_batch(tuple(specs), tuple(net.countries), net.production.shape[0])


@lru_cache(maxsize=4)
def _shock_batch(specs: tuple[ShockSpec, ...], countries: tuple[str, ...], n_stages: int) -> ShockBatch:
    n = len(countries)
    position = {c: j for j, c in enumerate(countries)}
    entries: list[tuple[int, int, int, int]] = []
    shares: list[float] = []
    mine_loss = np.zeros((len(specs), n))
    for k, spec in enumerate(specs):
        exporters = [position[c] for c in spec.exporters if c in position]
        if spec.kind == "mine":
            mine_loss[k, exporters] = spec.share
            continue
        importers = [position[c] for c in spec.importers if c in position] if spec.importers else range(n)
        stages = [STAGES.index(s) for s in spec.stages] if spec.stages else range(n_stages)
        for s in stages:
            for e in exporters:
                for i in importers:
                    if e != i:
                        entries.append((k, s, e, i))
                        shares.append(spec.share)
    batch = ShockBatch(
        [s.name for s in specs], np.asarray(entries, dtype=int).reshape(-1, 4), np.asarray(shares, float), mine_loss
    )
    for array in (batch.entries, batch.shares, batch.mine_loss):
        array.setflags(write=False)
    return batch


def _largest_first(values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` largest values, largest first, ties in their original order: the
    same as a stable argsort of -values cut to ``count``, without sorting every link of a dense
    global network (60,000 pairs) for each of the ~170 networks a year's Monte Carlo builds."""
    if len(values) <= count:
        return np.argsort(-values, kind="stable")
    threshold = np.partition(values, len(values) - count)[len(values) - count]  # the count-th largest
    candidates = np.nonzero(values >= threshold)[0]  # ties at the threshold all kept, in order
    return candidates[np.argsort(-values[candidates], kind="stable")][:count]


def link_failures(net: Network, max_links: int, report: bool = True) -> ShockBatch:
    """Every bilateral link (exporter -> importer, all stages) failing alone, the largest
    ``max_links`` of them, weighted by their size (t REO-eq summed over stages; weights sum to 1).
    ``report``: log the share of the flows they carry (not for each Monte Carlo network)."""
    size = net.flows.sum(axis=0)
    e_idx, i_idx = np.nonzero(size > MIN_T)
    order = _largest_first(size[e_idx, i_idx], max_links)
    e_idx, i_idx = e_idx[order], i_idx[order]
    k = len(order)
    n_stages = net.production.shape[0]
    entries = np.array(
        [(j, s, e, i) for j, (e, i) in enumerate(zip(e_idx, i_idx, strict=True)) for s in range(n_stages)], dtype=int
    ).reshape(-1, 4)
    weights = size[e_idx, i_idx]
    total = size.sum()
    if k and report:
        log.info("link failures: %d links carry %.1f%% of the flows", k, 100 * weights.sum() / total)
    names = [f"{net.countries[e]}->{net.countries[i]}" for e, i in zip(e_idx, i_idx, strict=True)]
    return ShockBatch(
        names, entries, np.ones(len(entries)), np.zeros((k, len(net.countries))),
        weights / weights.sum() if k else np.zeros(0),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The cascade
# ----------------------------------------------------------------------------------------------
@dataclass
class CascadeResult:
    """(K, S, n) arrays of one batch: supply and own-use shortfalls, rerouted tonnes, and the
    exporters' supply ratios (for the network after the shock)."""

    supply_shortfall: np.ndarray
    use_shortfall: np.ndarray
    rerouted: np.ndarray
    ratio: np.ndarray


def first_order(net: Network, batch: ShockBatch) -> np.ndarray:
    """(K, S, n) tonnes removed where the shock strikes: cut imports, and lost mine production."""
    n, n_stages = len(net.countries), net.production.shape[0]
    out = np.zeros((batch.size, n_stages, n))
    k, s, e, i = batch.entries.T
    np.add.at(out, (k, s, i), net.flows[s, e, i] * batch.shares)
    out[:, 0, :] += batch.mine_loss * net.production[0]
    return out


@dataclass(frozen=True)
class StageSystem:
    """One stage's baseline system, factorised once for every shock of every batch: the LU factors
    of A0 = diag(S (1 + LEAK)) - Z^T with the untraced rows (no supply, or supply no production
    feeds) replaced by identity rows."""

    lu: tuple[np.ndarray, np.ndarray]
    traced: np.ndarray  # (n,) bool

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A0^-1 b for a (n, m) right-hand side."""
        from scipy.linalg import lu_solve

        return lu_solve(self.lu, b, check_finite=False)


def stage_system(supply: np.ndarray, production: np.ndarray, flows: np.ndarray) -> StageSystem:
    traced = traced_countries(supply, production, flows)
    a = -flows.T.copy()
    diag = np.arange(len(supply))
    a[diag, diag] += supply * (1.0 + LEAK)
    a[~traced, :] = 0.0
    a[diag[~traced], diag[~traced]] = 1.0
    from scipy.linalg import lu_factor

    return StageSystem(lu_factor(a, check_finite=False), traced)


def stage_cuts(batch: ShockBatch, stage: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The batch's cut entries at one stage: shock, exporter, importer, share."""
    rows = batch.entries[:, 1] == stage
    k, _, e, i = batch.entries[rows].T
    return k, e, i, batch.shares[rows]


def deficit(system: StageSystem, flows: np.ndarray, cuts: tuple[np.ndarray, ...], rhs: np.ndarray,
            fixed: np.ndarray) -> np.ndarray:  # fmt: skip
    """Supply deficit d in [0, 1] (K, n) solving (diag(S) - Z_kept^T) d = rhs for the traced
    countries; the others take ``fixed`` (their first-order loss).

    A cut adds (Z o C_k)^T to the baseline matrix: a low-rank change whose rank is the number of
    exporters the shock cuts (1 for a single link), so every shock is solved from the one baseline
    inverse by the Woodbury identity instead of a factorisation of its own."""
    k_idx, e_idx, i_idx, share = cuts
    b = np.where(system.traced, rhs, fixed)
    if len(k_idx) == 0:
        return np.clip(system.solve(b.T).T, 0.0, 1.0)
    n_shocks, n = rhs.shape
    # (shock, exporter) pairs as one integer key: a 1-D unique is several times faster than axis=0
    keys, inv = np.unique(np.asarray(k_idx, dtype=np.int64) * n + e_idx, return_inverse=True)
    pairs = np.stack([keys // n, keys % n], axis=1)
    inv = np.asarray(inv).ravel()
    rank = np.arange(len(pairs)) - np.searchsorted(pairs[:, 0], pairs[:, 0], side="left")
    r = int(rank.max()) + 1
    columns = np.zeros((n_shocks, r), dtype=int)
    columns[pairs[:, 0], rank] = pairs[:, 1]
    # One right-hand side per (shock, exporter) pair, none for the padding of shocks of lower rank
    # (a batch mixes single links with multi-exporter scenarios): the solve is the costly part.
    u = np.zeros((n, len(pairs)))
    np.add.at(u, (i_idx, inv), flows[e_idx, i_idx] * share * system.traced[i_idx])
    both = system.solve(np.concatenate([b.T, u], axis=1))
    y = both[:, :n_shocks].T
    w = np.zeros((n_shocks, n, r))
    w[pairs[:, 0], :, rank] = both[:, n_shocks:].T
    m = np.eye(r)[None] + np.take_along_axis(w, columns[:, :, None], axis=1)
    y_cols = np.take_along_axis(y, columns, axis=1)
    d = y - np.einsum("kir,kr->ki", w, np.linalg.solve(m, y_cols[..., None])[..., 0])
    return np.clip(d, 0.0, 1.0)


def traced_countries(net_supply: np.ndarray, production: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Countries with supply that some production reaches along the flows (one stage)."""
    reached = production > MIN_T
    adjacency = flows > MIN_T
    for _ in range(len(reached)):
        nxt = reached | adjacency[reached].any(axis=0)
        if (nxt == reached).all():
            break
        reached = nxt
    return reached & (net_supply > MIN_T)


def reroute(request: np.ndarray, spare: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One round of rerouting (the definition; ``reroute_cut`` computes the same without the dense
    weights). ``request`` (K, n) tonnes each importer asks for, ``spare`` (K, n) tonnes each exporter
    can add, ``weights`` (K, n, n) [exporter, importer] summing to 1 (or 0) over exporters. Returns
    (received (K, n), delivered (K, n)): requests are split by the weights, and each exporter
    serves all its requests in the same proportion min(1, spare / asked)."""
    asked = np.einsum("kei,ki->ke", weights, request)
    served = np.where(asked > MIN_T, np.minimum(1.0, spare / np.where(asked > MIN_T, asked, 1.0)), 0.0)
    received = request * np.einsum("kei,ke->ki", weights, served)
    return received, asked * served


def reroute_weights(exports: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(K, n, n) request shares [exporter, importer]: baseline exports of the stage, never from the
    importer itself, times the uncut share of the link; normalised over exporters."""
    n = len(exports)
    w = np.broadcast_to(exports[:, None], (n, n)).copy()
    np.fill_diagonal(w, 0.0)
    w = w[None] * kept
    total = w.sum(axis=1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)


def reroute_cut(request: np.ndarray, spare: np.ndarray, exports: np.ndarray,
                cuts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``reroute`` with ``reroute_weights(exports, 1 - cut)``, in O(K n + cut entries): the weights
    E_e (1 - c_ei) / T_i, T_i = sum over e != i of E_e (1 - c_ei), are never built."""
    k_idx, e_idx, i_idx, share = cuts
    cut_weight = exports[e_idx] * share
    total = np.broadcast_to(exports.sum() - exports, request.shape).copy()
    np.subtract.at(total, (k_idx, i_idx), cut_weight)
    ok = total > MIN_T * max(exports.max(initial=0.0), 1.0) * 1e-6
    q = np.where(ok, request / np.where(ok, total, 1.0), 0.0)
    asked = exports * (q.sum(axis=1, keepdims=True) - q)
    np.subtract.at(asked, (k_idx, e_idx), cut_weight * q[k_idx, i_idx])
    asked = np.maximum(asked, 0.0)
    served = np.where(asked > MIN_T, np.minimum(1.0, spare / np.where(asked > MIN_T, asked, 1.0)), 0.0)
    offer = exports * served
    back = offer.sum(axis=1, keepdims=True) - offer
    np.subtract.at(back, (k_idx, i_idx), cut_weight * served[k_idx, e_idx])
    return q * np.maximum(back, 0.0), asked * served


def cascade(net: Network, batch: ShockBatch, spare_fraction: Sequence[float] | np.ndarray) -> CascadeResult:
    """Propagate a batch of shocks down the stages, rerouting at each (module docstring).

    ``spare_fraction``: one per stage (0 everywhere gives the ``propagated`` order)."""
    n_stages, n = net.production.shape
    spare_fraction = np.broadcast_to(np.asarray(spare_fraction, dtype=float), (n_stages,))
    supply, exports, use = net.supply, net.exports, net.own_use
    k = batch.size
    shape = (k, n_stages, n)
    supply_short, use_short, rerouted, ratio = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.ones(shape)
    use_ratio = np.ones((k, n))
    for s in range(n_stages):
        z = net.flows[s]
        cuts = stage_cuts(batch, s)
        k_idx, e_idx, i_idx, share = cuts
        lost_production = net.production[s] * (batch.mine_loss if s == 0 else 1.0 - use_ratio)
        cut_in = np.zeros((k, n))
        np.add.at(cut_in, (k_idx, i_idx), z[e_idx, i_idx] * share)
        rhs = lost_production + cut_in
        fixed = np.where(supply[s] > MIN_T, np.minimum(1.0, rhs / np.where(supply[s] > MIN_T, supply[s], 1.0)), 0.0)
        d = deficit(net.systems[s], z, cuts, rhs, fixed)
        request = d * use[s]
        received = np.zeros((k, n))
        if spare_fraction[s] > 0:
            spare = spare_fraction[s] * exports[s][None] * (1.0 - d)
            received, _ = reroute_cut(request, spare, exports[s], cuts)
        supply_short[:, s] = d * supply[s] - received
        use_short[:, s] = request - received
        rerouted[:, s] = received
        ratio[:, s] = 1.0 - d
        use_ratio = np.where(use[s] > MIN_T, 1.0 - use_short[:, s] / np.where(use[s] > MIN_T, use[s], 1.0), 1.0 - d)
    return CascadeResult(supply_short, use_short, rerouted, ratio)


def network_after(net: Network, spec: ShockSpec) -> Network:
    """The network once a shock has propagated (no rerouting): production scaled by the upstream
    own-use ratio, flows by the exporter's supply ratio and the uncut share. Used for the
    counterfactual without a pair's links (``remove``)."""
    batch = shock_batch([spec], net)
    result = cascade(net, batch, 0.0)
    n_stages = net.production.shape[0]
    production = net.production.copy()
    production[0] *= 1.0 - batch.mine_loss[0]
    for s in range(1, n_stages):
        use = net.own_use[s - 1]
        ratio = np.where(use > MIN_T, 1.0 - result.use_shortfall[0, s - 1] / np.where(use > MIN_T, use, 1.0), 1.0)
        production[s] *= ratio
    kept = np.stack([1.0 - batch.cut(s, len(net.countries))[0] for s in range(n_stages)])
    flows = net.flows * kept * result.ratio[0][:, :, None]
    return Network(net.countries, production, flows)


def reallocated(net: Network, pair: tuple[str, str]) -> Network:
    """The counterfactual where the pair's direct flows (both directions, every stage) go through
    third countries instead: a -> k -> b for each third country k, in proportion to k's trade
    (imports + exports) at that stage (over all stages if nobody else trades at it). Every country's
    production, supply net of transit, and own use are unchanged: only the direct links vanish."""
    a, b = (net.index(c) for c in pair)
    flows = net.flows.copy()
    if a is None or b is None:
        return Network(net.countries, net.production.copy(), flows)
    trade_all = (net.imports + net.exports).sum(axis=0)
    for s in range(flows.shape[0]):
        trade = net.imports[s] + net.exports[s]
        for e, i in ((a, b), (b, a)):
            z = flows[s, e, i]
            if z <= 0:
                continue
            third = trade.copy() if trade.sum() - trade[a] - trade[b] > MIN_T else trade_all.copy()
            third[[a, b]] = 0.0
            if third.sum() <= MIN_T:
                log.warning("reallocate %s: no third country trades; the %s flow is removed", pair, STAGES[s])
                flows[s, e, i] = 0.0
                continue
            share = third / third.sum()
            flows[s, e, :] += z * share
            flows[s, :, i] += z * share
            flows[s, e, i] = 0.0
    return Network(net.countries, net.production.copy(), flows)


def counterfactual(net: Network, mode: str, pair: tuple[str, str]) -> Network:
    """The network without the pair's direct links: ``remove`` (their flows vanish and the loss
    propagates) or ``reallocate`` (through third countries)."""
    if mode == "remove":
        return network_after(net, ShockSpec("remove", exporters=pair, importers=pair))
    if mode == "reallocate":
        return reallocated(net, pair)
    raise ReeflowError(f"config shocks.counterfactuals: {mode!r}; use one of {COUNTERFACTUALS}")


# ----------------------------------------------------------------------------------------------
# From the MFA tables, and back to tables
# ----------------------------------------------------------------------------------------------
def network_from_tables(balance: pd.DataFrame, flows: pd.DataFrame) -> Network:
    """One year's Network from its balance (production_t) and flows (reo_t) tables."""
    # unique() first: iterating a whole pyarrow-backed column in Python is slow at global scale
    countries = tuple(sorted({*balance["country"].unique(), *flows["exporter"].unique(), *flows["importer"].unique()}))
    position = {c: i for i, c in enumerate(countries)}
    stage_pos = {s: i for i, s in enumerate(STAGES)}
    n, n_stages = len(countries), len(STAGES)
    production = np.zeros((n_stages, n))
    rows = balance[balance["stage"].isin(STAGES)]
    np.add.at(
        production,
        (rows["stage"].map(stage_pos).to_numpy(int), rows["country"].map(position).to_numpy(int)),
        np.maximum(rows["production_t"].to_numpy(float), 0.0),
    )
    z = np.zeros((n_stages, n, n))
    f = flows[(flows["exporter"] != flows["importer"]) & flows["stage"].isin(STAGES)]
    np.add.at(
        z,
        (f["stage"].map(stage_pos).to_numpy(int), f["exporter"].map(position).to_numpy(int),
         f["importer"].map(position).to_numpy(int)),
        np.maximum(f["reo_t"].to_numpy(float), 0.0),
    )  # fmt: skip
    if not (np.isfinite(production).all() and np.isfinite(z).all()):
        raise ReeflowError("shocks: the year's balance or flows hold NaN/inf quantities; check resources/mfa/{year}/")
    return Network(countries, production, z)


def shortfall_long(net: Network, names: Sequence[str], orders: Mapping[str, np.ndarray], year: int,
                   network: str) -> pd.DataFrame:  # fmt: skip
    """Long table (SHOCK_COLUMNS) of supply shortfalls (K, S, n) per order; zero rows dropped."""
    supply = net.supply
    frames = []
    for order, values in orders.items():
        k, s, c = np.nonzero(values > MIN_T)
        frames.append(pd.DataFrame({
            "year": year, "network": network, "scenario": np.asarray(names, dtype=object)[k],
            "country": np.asarray(net.countries, dtype=object)[c], "stage": np.asarray(STAGES, dtype=object)[s],
            "order": order, "shortfall_t": values[k, s, c],
            "shortfall_share": values[k, s, c] / np.where(supply[s, c] > 0, supply[s, c], np.nan),
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class ShockRun:
    """Every order of a batch on one network."""

    first: np.ndarray
    propagated: CascadeResult
    rerouted: CascadeResult


def run_batch(net: Network, batch: ShockBatch, spare: np.ndarray) -> ShockRun:
    return ShockRun(first_order(net, batch), cascade(net, batch, 0.0), cascade(net, batch, spare))


def expected(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over the shock axis (axis 0), kept as one shock."""
    if values.shape[0] == 0:
        return np.zeros((1,) + values.shape[1:])
    return np.tensordot(weights, values, axes=(0, 0))[None]


def orders_table(net: Network, sets: ShockSets, run: ShockRun, year: int, network: str) -> pd.DataFrame:
    """The named scenarios and the expected link failure, every order, as a long table (``run`` is
    of ``sets.both``)."""
    orders = {
        "first_order": sets.split(run.first),
        "propagated": sets.split(run.propagated.supply_shortfall),
        "rerouted": sets.split(run.rerouted.supply_shortfall),
    }
    return shortfall_long(net, [*sets.named.names, EXPECTED_LINK_FAILURE], orders, year, network)


def final_use_shares(net: Network, use_shortfall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Final-stage own-use (consumption) shortfall of each shock: (K, n + 1) shares and tonnes,
    the last column the world (WLD)."""
    use = net.own_use[-1]
    short = use_shortfall[:, -1, :]
    tonnes = np.concatenate([short, short.sum(axis=1, keepdims=True)], axis=1)
    base = np.concatenate([use, [use.sum()]])
    shares = np.where(base > MIN_T, tonnes / np.where(base > MIN_T, base, 1.0), 0.0)
    return shares, tonnes


@dataclass(frozen=True)
class ShockSets:
    """The named scenarios and the single link failures of one network, and both as one batch."""

    named: ShockBatch
    links: ShockBatch

    @cached_property
    def both(self) -> ShockBatch:
        return self.named.followed_by(self.links)

    def split(self, values: np.ndarray) -> np.ndarray:
        """Per-shock values of ``both`` (axis 0) -> the named shocks, then the size-weighted
        expectation over the link failures."""
        k = self.named.size
        return np.concatenate([values[:k], expected(values[k:], self.links.weights)])


def shock_sets(net: Network, specs: Sequence[ShockSpec], max_links: int, report: bool = True) -> ShockSets:
    return ShockSets(shock_batch(specs, net), link_failures(net, max_links, report))


@dataclass(frozen=True)
class Metrics:
    """Final-stage consumption shortfall shares and tonnes, (n_sets, n + 1) with WLD last."""

    shares: np.ndarray
    tonnes: np.ndarray


def metrics(net: Network, sets: ShockSets, spare: np.ndarray) -> Metrics:
    """Final-stage consumption shortfall after rerouting, shares and tonnes (n_sets, n + 1):
    every named scenario, then the size-weighted expectation over single link failures."""
    shares, tonnes = final_use_shares(net, cascade(net, sets.both, spare).use_shortfall)
    return Metrics(sets.split(shares), sets.split(tonnes))


def perturbed(net: Network, rng: np.random.Generator, flow_sigma: float, production_sigma: float) -> Network:
    """One Monte Carlo network: every flow and production figure times a median-1 log-normal factor."""
    flows = net.flows * rng.lognormal(0.0, flow_sigma, net.flows.shape)
    production = net.production * rng.lognormal(0.0, production_sigma, net.production.shape)
    return Network(net.countries, production, flows)


# ----------------------------------------------------------------------------------------------
# One year: the shocks table and the stabilisation table
# ----------------------------------------------------------------------------------------------
ALWAYS_RUN = ShockSpec("usa_chn_cut", exporters=("USA",), importers=("CHN",))


def scenario_specs(settings: ShockSettings) -> list[ShockSpec]:
    """The configured scenarios, with ``usa_chn_cut`` (every USA -> CHN flow cut) always among them."""
    specs = [ShockSpec.from_mapping(item) for item in settings.scenarios]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ReeflowError(f"config shocks.scenarios: names {duplicates} used twice; give each scenario its own name")
    if ALWAYS_RUN.name not in names:
        specs.insert(0, ALWAYS_RUN)
    return specs


def spare_vector(spare_fraction: Mapping[str, float]) -> np.ndarray:
    """shocks.spare_fraction as an array over STAGES; every stage must be given, each >= 0."""
    missing = [s for s in STAGES if s not in spare_fraction]
    if missing:
        raise ReeflowError(f"config shocks.spare_fraction: missing stage(s) {missing}; give a fraction >= 0 for each")
    values = np.array([float(spare_fraction[s]) for s in STAGES])
    if (values < 0).any() or not np.isfinite(values).all():
        raise ReeflowError(f"config shocks.spare_fraction: {dict(spare_fraction)}; fractions must be finite and >= 0")
    return values


def counterfactual_name(mode: str) -> str:
    return f"without_links_{mode}"


def shocks_year(net: Network, settings: ShockSettings, year: int,
                counterfactuals: Mapping[str, Network] | None = None) -> pd.DataFrame:  # fmt: skip
    """Every order of every named scenario and of the expected link failure, on the actual network
    and on each counterfactual (SHOCK_COLUMNS; rows with no shortfall left out)."""
    specs = scenario_specs(settings)
    spare = spare_vector(settings.spare_fraction)
    cf_nets = dict(counterfactuals) if counterfactuals is not None else counterfactual_networks(net, settings)
    networks = {ACTUAL: net} | {counterfactual_name(mode): cf for mode, cf in cf_nets.items()}
    frames = []
    for name, network in networks.items():
        sets = shock_sets(network, specs, settings.max_links)
        frames.append(orders_table(network, sets, run_batch(network, sets.both, spare), year, name))
    return typed(pd.concat(frames, ignore_index=True), SHOCK_COLUMNS)


def monte_carlo(net: Network, specs: Sequence[ShockSpec], spare: np.ndarray, settings: ShockSettings,
                year: int) -> dict[str, np.ndarray]:  # fmt: skip
    """Stabilisation (counterfactual minus actual share) per draw, (draws, n_sets, n + 1) per mode.

    The Monte Carlo of reeflow.sensitivity keeps indicators, not flows, so the band comes from a
    documented perturbation instead: every flow and production figure times a log-normal factor
    (``flow_sigma``, ``production_sigma``) and the spare fractions times U(1 - r, 1 + r)
    (r = ``spare_range``); seeded by ``seed`` and the year, so a year's band is reproducible alone."""
    rng = np.random.default_rng([settings.seed, year])
    out: dict[str, list[np.ndarray]] = {mode: [] for mode in settings.counterfactuals}
    for _ in range(settings.draws):
        drawn = perturbed(net, rng, settings.flow_sigma, settings.production_sigma)
        drawn_spare = spare * rng.uniform(1.0 - settings.spare_range, 1.0 + settings.spare_range)
        actual = metrics(drawn, shock_sets(drawn, specs, settings.max_links, report=False), drawn_spare)
        for mode in settings.counterfactuals:
            cf_net = counterfactual(drawn, mode, settings.pair)
            cf = metrics(cf_net, shock_sets(cf_net, specs, settings.max_links, report=False), drawn_spare)
            out[mode].append(cf.shares - actual.shares)
    return {mode: np.asarray(values) for mode, values in out.items()}


def stabilisation_rows(net: Network, set_names: Sequence[str], actual: Metrics, cf: Metrics, year: int,
                       mode: str, rerouting: str, spare_mean: float,
                       draws: np.ndarray | None) -> pd.DataFrame:  # fmt: skip
    """Rows of STABILISATION_COLUMNS for every shock set and WLD + every country consuming at the
    final stage (in either network)."""
    labels = np.asarray([*net.countries, WORLD], dtype=object)
    keep = np.concatenate([(net.own_use[-1] > MIN_T), [True]])
    cols = np.nonzero(keep)[0]
    n_sets = len(set_names)
    k, c = np.meshgrid(np.arange(n_sets), cols, indexing="ij")
    k, c = k.ravel(), c.ravel()
    frame = pd.DataFrame({
        "year": year, "counterfactual": mode, "shock_set": np.asarray(set_names, dtype=object)[k],
        "country": labels[c], "rerouting": rerouting, "spare_fraction": spare_mean,
        "actual_shortfall_t": actual.tonnes[k, c], "counterfactual_shortfall_t": cf.tonnes[k, c],
        "actual_shortfall_share": actual.shares[k, c], "counterfactual_shortfall_share": cf.shares[k, c],
    })  # fmt: skip
    frame["stabilisation"] = frame["counterfactual_shortfall_share"] - frame["actual_shortfall_share"]
    if draws is not None and len(draws):
        for q in (5, 50, 95):
            frame[f"p{q:02d}"] = np.percentile(draws, q, axis=0)[k, c]
        frame["n_draws"] = len(draws)
    else:
        frame[["p05", "p50", "p95"]] = np.nan
        frame["n_draws"] = 0
    return frame


def counterfactual_networks(net: Network, settings: ShockSettings) -> dict[str, Network]:
    """Each configured counterfactual without the pair's links, built once."""
    return {mode: counterfactual(net, mode, settings.pair) for mode in settings.counterfactuals}


def stabilisation_year(net: Network, settings: ShockSettings, year: int,
                       counterfactuals: Mapping[str, Network] | None = None) -> pd.DataFrame:  # fmt: skip
    """Per counterfactual: the configured rerouting with its Monte Carlo band, and the sweep of
    uniform spare fractions (central values only)."""
    specs = scenario_specs(settings)
    spare = spare_vector(settings.spare_fraction)
    set_names = [s.name for s in specs] + [EXPECTED_LINK_FAILURE]
    draws = monte_carlo(net, specs, spare, settings, year) if settings.draws else {}
    cf_nets = dict(counterfactuals) if counterfactuals is not None else counterfactual_networks(net, settings)
    settings_list = [("configured", spare, float(spare.mean()))] + [
        (f"uniform {f:g}", np.full(len(STAGES), f), f) for f in settings.spare_sweep
    ]
    sets = {mode: shock_sets(network, specs, settings.max_links, report=False)  # shocks_year reported them
            for mode, network in ({ACTUAL: net} | cf_nets).items()}
    frames = []
    for label, fractions, mean in settings_list:
        actual = metrics(net, sets[ACTUAL], fractions)
        for mode in settings.counterfactuals:
            cf = metrics(cf_nets[mode], sets[mode], fractions)
            band = draws.get(mode) if label == "configured" else None
            frames.append(stabilisation_rows(net, set_names, actual, cf, year, mode, label, mean, band))
    return typed(pd.concat(frames, ignore_index=True), STABILISATION_COLUMNS)


def run_shocks_year(balance_path: str, flows_path: str, year: int, settings: ShockSettings,
                    outputs: Mapping[str, str]) -> None:  # fmt: skip
    """The shocks_year rule: resources/mfa/{year}/{balance,flows} -> resources/shocks/{year}/."""
    import time

    from reeflow.io import read_table, write_parquet_atomic

    start = time.perf_counter()
    net = network_from_tables(read_table(balance_path, what="balance"), read_table(flows_path, what="flows"))
    cf_nets = counterfactual_networks(net, settings)
    shocks = shocks_year(net, settings, year, cf_nets)
    stabilisation = stabilisation_year(net, settings, year, cf_nets)
    world = stabilisation[(stabilisation["country"] == WORLD) & (stabilisation["rerouting"] == "configured")]
    for row in world.itertuples():
        log.info("%d %s %s: world final shortfall %.4f actual, %.4f without links, stabilisation %.4f",
                 year, row.counterfactual, row.shock_set, row.actual_shortfall_share,
                 row.counterfactual_shortfall_share, row.stabilisation)  # fmt: skip
    write_parquet_atomic(shocks, outputs["shocks"])
    write_parquet_atomic(stabilisation, outputs["stabilisation"])
    log.info("%d: %d countries, %d shock rows in %.2f s", year, len(net.countries), len(shocks),
             time.perf_counter() - start)  # fmt: skip


def collect_shocks(inputs: Mapping[str, Sequence[str]], outputs: Mapping[str, str]) -> None:
    """The collect_shocks rule: per-year files -> results/tables/{shocks,stabilisation}.csv."""
    from reeflow.io import concat_parquet_to_csv, write_csv_atomic

    for name, columns in (("shocks", SHOCK_COLUMNS), ("stabilisation", STABILISATION_COLUMNS)):
        if inputs[name]:  # the per-year files are typed by shocks_year; stacked in pyarrow alone
            concat_parquet_to_csv(inputs[name], outputs[name], f"per-year {name}")
        else:
            write_csv_atomic(empty_table(columns), outputs[name])


def shock_figure_scenario(section: Mapping[str, Any]) -> dict[str, Any]:
    """The configured scenario that fig_shock_network draws (config shocks.figure_scenario), as a
    config item; usa_chn_cut is always available because it always runs."""
    name = str(section["figure_scenario"])
    for item in section["scenarios"]:
        if item["name"] == name:
            return dict(item)
    if name == ALWAYS_RUN.name:
        spec = ALWAYS_RUN
        return {"name": spec.name, "kind": spec.kind, "exporters": list(spec.exporters),
                "importers": list(spec.importers), "stages": list(spec.stages), "share": spec.share}  # fmt: skip
    known = [item["name"] for item in section["scenarios"]]
    raise ReeflowError(
        f"config shocks.figure_scenario: {name!r} is no scenario; use one of {known or [ALWAYS_RUN.name]}"
    )
