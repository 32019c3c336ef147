"""Origin tracing: which mining country the REE in each country's supply came from, stage by stage.

Per stage and year, with Z[e, i] the REO-eq flow from exporter e to importer i, P the stage's
production and S = P + column sums of Z (each country's supply), the origin mix O (countries x
origins; row i sums to 1) solves

    (diag(S) - Z^T) O = diag(P) O_prev

i.e. S_i O_i = P_i O_prev_i + sum_e Z[e, i] O_e: domestic output carries the mix of the country's
own previous-stage supply (for mining, identity: what a country mines originates there), exports
carry the exporter's supply mix. Divided by S_i, each row is a probability distribution over "came
from production here" and "came from exporter e", so the system is an absorbing Markov chain and
is solved with one sparse LU factorisation for all origins at once.

Two kinds of data make the system ill-posed, and both are handled and reported, never hidden:

* a country exporting more than its supply (mirror gaps): its exports are scaled down to its
  supply for tracing only (iterated, since a cut reduces its importers' supply), so that no
  origin's tonnes are created;
* supply that only circulates between countries without any production upstream (a trade loop
  with no source): its origin is ``UNATTRIBUTED`` rather than an arbitrary number.

The same solver carries an extra label for the disruption test: the part of each country's supply
that travelled through a cut link at this or an earlier stage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import splu

from reeflow.commodities import STAGES
from reeflow.io import ReeflowError

log = logging.getLogger(__name__)

UNATTRIBUTED = "UNATTRIBUTED"
SHARE_TOLERANCE = 1e-6
# Below a milligram a supply is too small to trace: it would only make the system near-singular.
MIN_TRACED_T = 1e-9
ORIGIN_COLUMNS: list[str] = ["year", "stage", "country", "origin", "share"]


def flow_matrix(exporter_idx: np.ndarray, importer_idx: np.ndarray, reo: np.ndarray, n: int) -> sp.csr_matrix:
    """Z[e, i]: summed REO-eq from e to i (duplicates, e.g. several HS codes, are added)."""
    z = sp.coo_matrix((np.asarray(reo, dtype=float), (exporter_idx, importer_idx)), shape=(n, n)).tocsr()
    z.sum_duplicates()
    z.eliminate_zeros()
    return z


def limit_exports_to_supply(
    z: sp.csr_matrix, production: np.ndarray, rounds: int = 50, rtol: float = 1e-10
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Scale each exporter's row of Z by f_e in [0, 1] so that no exports exceed supply.

    Returns the scaled matrix and the tonnes removed per exporter. We want the largest such
    scaling: f_e * exports_e <= production_e + sum_j f_j Z[j, e]. Scaling one exporter lowers its
    importers' supply, which can push them over in turn; a few fixed-point rounds usually settle
    it, but a trade loop without a source only shrinks geometrically, so then the largest feasible
    f (the feasible set is closed under max, so it has a greatest element) comes from a linear
    programme."""
    z = z.tocsr().astype(float)
    production = np.asarray(production, dtype=float)
    exports = np.asarray(z.sum(axis=1)).ravel()
    tol = rtol * (exports.sum() + production.sum()) + 1e-12
    f = np.ones_like(exports)
    for _ in range(rounds):
        f, excess = _tighten(z, production, exports, f)
        if excess <= tol:
            break
    else:
        f = np.minimum(f, _largest_feasible_scaling(z, production, exports))
        for _ in range(rounds):
            f, excess = _tighten(z, production, exports, f)
            if excess <= tol:
                break
        else:
            raise ReeflowError(
                f"origin tracing: exports exceed supply by {excess:.3g} t after scaling; "
                "check the flows for non-finite values"
            )
    f = _without_untraceable_exporters(z, production, f)
    scaled = (sp.diags(f) @ z).tocsr()
    return scaled, np.maximum(exports * (1.0 - f), 0.0)


def _without_untraceable_exporters(z: sp.csr_matrix, production: np.ndarray, f: np.ndarray) -> np.ndarray:
    """No exports from a country left with (almost) no supply: rounding in the scaling would
    otherwise let it ship material that has no origin. Cascades, so at most n rounds."""
    f = f.copy()
    for _ in range(len(f) + 1):
        empty = (production + z.T @ f <= MIN_TRACED_T) & (f > 0)
        if not empty.any():
            break
        f[empty] = 0.0
    return f


def _tighten(
    z: sp.csr_matrix, production: np.ndarray, exports: np.ndarray, f: np.ndarray
) -> tuple[np.ndarray, float]:
    """One round f <- min(f, supply / exports); returns the new f and the largest excess before."""
    supply = production + z.T @ f
    excess = f * exports - supply
    over = excess > 0
    if over.any():
        f = f.copy()
        f[over] = np.clip(supply[over] / exports[over], 0.0, 1.0)
    return f, float(excess.max(initial=0.0))


def _largest_feasible_scaling(z: sp.csr_matrix, production: np.ndarray, exports: np.ndarray) -> np.ndarray:
    """max sum(f) s.t. diag(exports) f - Z^T f <= production, 0 <= f <= 1 (HiGHS). scipy.optimize is
    imported here, not at the top: it costs every MFA job 0.3 s and is needed only in this fallback."""
    from scipy.optimize import linprog

    a_ub = (sp.diags(exports) - z.T).tocsr()
    result = linprog(-np.ones(len(exports)), A_ub=a_ub, b_ub=production, bounds=(0.0, 1.0), method="highs")
    if not result.success:
        raise ReeflowError(f"origin tracing: limiting exports to supply failed ({result.message})")
    return np.clip(result.x, 0.0, 1.0)


def _reachable(z: sp.csr_matrix, sources: np.ndarray) -> np.ndarray:
    """Countries reachable along flows (e -> i) from any source country."""
    n = z.shape[0]
    if not sources.any():
        return np.zeros(n, dtype=bool)
    adj = sp.bmat([[z, None], [sp.csr_matrix(sources.astype(float).reshape(1, -1)), sp.csr_matrix((1, 1))]])
    order = breadth_first_order(adj.tocsr(), n, directed=True, return_predecessors=False)
    seen = np.zeros(n + 1, dtype=bool)
    seen[order] = True
    return seen[:n]


def solve_supply_labels(
    z_keep: sp.csr_matrix, supply: np.ndarray, rhs: np.ndarray, absorbing: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Solve (diag(S) - Z_keep^T) X = rhs for all label columns with one sparse LU factorisation.

    Rows with no supply, or whose supply cannot be traced back to any absorbing country (one with
    production or another injected label), are fixed to ``fallback`` (a label vector) instead:
    those rows would make the matrix singular."""
    n = len(supply)
    rhs = np.asarray(rhs, dtype=float).reshape(n, -1)
    traced = (supply > MIN_TRACED_T) & _reachable(z_keep, absorbing)
    # Row i divided by S_i: I - W with W substochastic. Supplies span ten orders of magnitude, and
    # without this scaling LU loses digits on the small countries' rows.
    inv = np.where(traced, 1.0 / np.where(traced, supply, 1.0), 0.0)
    a = (sp.identity(n, format="csr") - sp.diags(inv) @ z_keep.T).tolil()
    b = rhs * inv[:, None]
    for i in np.nonzero(~traced)[0]:
        a.rows[i] = [i]
        a.data[i] = [1.0]
        b[i] = fallback if supply[i] > 0 else 0.0
    lu = splu(sp.csc_matrix(a.tocsr()))
    return lu.solve(b)


@dataclass
class StageTrace:
    """One stage's tracing: the (possibly scaled) flow matrix, supply, and origin mix."""

    z: sp.csr_matrix
    production: np.ndarray
    supply: np.ndarray
    origins: np.ndarray  # (n_countries, n_labels)
    removed_exports: np.ndarray


def trace_origins(
    flow_matrices: Sequence[sp.csr_matrix], production: np.ndarray, origin_countries: np.ndarray
) -> list[StageTrace]:
    """Origin mix per stage. ``production``: (n_stages, n_countries) t REO-eq (not negative);
    ``origin_countries``: indices of the mining countries, the origin labels; one extra last label
    is UNATTRIBUTED. Returns one StageTrace per stage, in stage order."""
    production = np.maximum(np.asarray(production, dtype=float), 0.0)
    n = production.shape[1]
    k = len(origin_countries) + 1
    fallback = np.zeros(k)
    fallback[-1] = 1.0
    previous = np.zeros((n, k))
    previous[origin_countries, np.arange(len(origin_countries))] = 1.0
    traces = []
    for s, z in enumerate(flow_matrices):
        p = production[s]
        if s > 0:
            previous = _with_fallback(previous, p, fallback)
        z_ok, removed = limit_exports_to_supply(_without_traces(z), p)
        supply = p + np.asarray(z_ok.sum(axis=0)).ravel()
        origins = solve_supply_labels(z_ok, supply, p[:, None] * previous, p > MIN_TRACED_T, fallback)
        assert_shares_sum_to_one(origins, supply, STAGES[s] if s < len(STAGES) else str(s))
        origins = _normalised(origins, supply)
        traces.append(StageTrace(z_ok, p, supply, origins, removed))
        previous = origins
    return traces


def _without_traces(z: sp.csr_matrix) -> sp.csr_matrix:
    """Flows below a milligram dropped: they cannot be traced, only make the system singular."""
    z = z.tocsr(copy=True)
    z.data[z.data < MIN_TRACED_T] = 0.0
    z.eliminate_zeros()
    return z


def _with_fallback(previous: np.ndarray, production: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Production with no traced upstream supply (a statistic where nothing came in) is UNATTRIBUTED."""
    empty = (production > 0) & (previous.sum(axis=1) < 0.5)
    if empty.any():
        previous = previous.copy()
        previous[empty] = fallback
    return previous


def _normalised(origins: np.ndarray, supply: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to exactly 1: removes the rounding left by ill-conditioned systems
    (large loops fed by tiny flows), after the check has shown it is only rounding."""
    origins = np.clip(origins, 0.0, None)
    sums = origins.sum(axis=1, keepdims=True)
    return np.where((supply[:, None] > 0) & (sums > 0), origins / np.where(sums > 0, sums, 1.0), 0.0)


def assert_shares_sum_to_one(
    origins: np.ndarray, supply: np.ndarray, stage: str, tolerance: float = SHARE_TOLERANCE
) -> None:
    """Every country with supply must have its origin shares sum to 1 (and none negative)."""
    has_supply = supply > 0
    sums = origins[has_supply].sum(axis=1)
    if sums.size and (np.abs(sums - 1).max() > tolerance or origins[has_supply].min() < -tolerance):
        raise ReeflowError(
            f"origin tracing at stage {stage}: shares do not sum to 1 (worst {np.abs(sums - 1).max():.3g}); "
            "either the flows hold NaN/inf, or large trade loops are fed by tiny flows (ill-conditioned); "
            "check the flows table of this year"
        )


def cut_link_shares(traces: Sequence[StageTrace], cut: sp.csr_matrix) -> np.ndarray:
    """Share of each country's supply per stage that travelled through a cut link.

    ``cut``: (n, n) 0/1 mask of the links cut (e -> i), applied at every stage. Material that
    crosses a cut link is labelled entirely; the label then follows the flows like an origin, and
    downstream production inherits it from the producer's previous-stage supply. Returns
    (n_stages, n_countries) shares in [0, 1]: the first-order shortfall if the link vanished and
    nobody rerouted."""
    n = traces[0].supply.shape[0]
    shares = np.zeros((len(traces), n))
    previous = np.zeros(n)
    for s, trace in enumerate(traces):
        z_cut = trace.z.multiply(cut).tocsr()
        z_keep = (trace.z - z_cut).tocsr()
        injected = np.asarray(z_cut.sum(axis=0)).ravel()
        rhs = injected + trace.production * previous
        absorbing = (trace.production > MIN_TRACED_T) | (injected > MIN_TRACED_T)
        label = solve_supply_labels(z_keep, trace.supply, rhs, absorbing, np.zeros(1))[:, 0]
        label = np.clip(np.where(trace.supply > 0, label, 0.0), 0.0, 1.0 + SHARE_TOLERANCE)
        shares[s] = np.minimum(label, 1.0)
        previous = shares[s]
    return shares


def cut_mask(
    links: Iterable[Sequence[str]], exporters: Iterable[str], countries: Sequence[str]
) -> sp.csr_matrix:
    """0/1 matrix of the cut links; a country in ``exporters`` loses every export link."""
    position = {c: i for i, c in enumerate(countries)}
    n = len(countries)
    rows, cols = [], []
    for a, b in links:
        if a in position and b in position:
            rows.append(position[a])
            cols.append(position[b])
    for a in exporters:
        if a in position:
            rows.extend([position[a]] * n)
            cols.extend(range(n))
    mask = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    mask.data[:] = 1.0
    return mask


def disruption_scenarios(
    links: Sequence[Sequence[str]], exporters: Sequence[str]
) -> dict[str, tuple[list, list]]:
    """Scenario name -> (links, exporters) cut: each link alone, all links together, each exporter."""
    scenarios: dict[str, tuple[list, list]] = {}
    for a, b in links:
        scenarios[f"cut {a}->{b}"] = ([(a, b)], [])
    if len(links) > 1:
        scenarios["cut " + " ".join(f"{a}->{b}" for a, b in links)] = ([tuple(x) for x in links], [])
    for a in exporters:
        scenarios[f"no exports from {a}"] = ([], [a])
    return scenarios


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def stage_flow_matrices(flows: pd.DataFrame, countries: Sequence[str]) -> list[sp.csr_matrix]:
    """One Z per stage from the flows table (hs6 rows summed)."""
    position = {c: i for i, c in enumerate(countries)}
    matrices = []
    for stage in STAGES:
        rows = flows[flows["stage"] == stage]
        matrices.append(
            flow_matrix(
                rows["exporter"].map(position).to_numpy(dtype=int),
                rows["importer"].map(position).to_numpy(dtype=int),
                rows["reo_t"].to_numpy(dtype=float),
                len(countries),
            )
        )
    return matrices


def origin_table(
    traces: Sequence[StageTrace],
    countries: Sequence[str],
    origin_countries: np.ndarray,
    year: int,
    min_share: float = 1e-12,
) -> pd.DataFrame:
    """Long table year, stage, country, origin, share (only countries with supply, shares > 0)."""
    labels = [countries[i] for i in origin_countries] + [UNATTRIBUTED]
    frames = []
    for s, trace in enumerate(traces):
        rows, cols = np.nonzero((trace.origins > min_share) & (trace.supply[:, None] > 0))
        frames.append(
            pd.DataFrame(
                {
                    "year": year,
                    "stage": STAGES[s],
                    "country": np.asarray(countries, dtype=object)[rows],
                    "origin": np.asarray(labels, dtype=object)[cols],
                    "share": trace.origins[rows, cols],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ORIGIN_COLUMNS)
    for col in ("stage", "country", "origin"):
        out[col] = out[col].astype(str)
    out["year"] = out["year"].astype("int64")
    return out[ORIGIN_COLUMNS]


def tracing_residuals(traces: Sequence[StageTrace], countries: Sequence[str], year: int) -> pd.DataFrame:
    """Exports removed for tracing, per exporter and stage, for the residuals table."""
    frames = []
    for s, trace in enumerate(traces):
        idx = np.nonzero(trace.removed_exports > 0)[0]
        frames.append(
            pd.DataFrame(
                {
                    "year": year,
                    "country": [countries[i] for i in idx],
                    "stage": STAGES[s],
                    "kind": "tracing_export_scaling",
                    "residual_t": trace.removed_exports[idx],
                    "reason": "exports exceed supply: scaled down to supply for origin tracing only",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def disruption_table(
    traces: Sequence[StageTrace],
    countries: Sequence[str],
    year: int,
    links: Sequence[Sequence[str]],
    exporters: Sequence[str],
) -> pd.DataFrame:
    """year, scenario, country, stage, shortfall_t, shortfall_share for every country with supply."""
    frames = []
    for name, (cut_links, cut_exporters) in disruption_scenarios(links, exporters).items():
        shares = cut_link_shares(traces, cut_mask(cut_links, cut_exporters, countries))
        for s, trace in enumerate(traces):
            idx = np.nonzero(trace.supply > 0)[0]
            frames.append(
                pd.DataFrame(
                    {
                        "year": year,
                        "scenario": name,
                        "country": np.asarray(countries, dtype=object)[idx],
                        "stage": STAGES[s],
                        "shortfall_t": shares[s, idx] * trace.supply[idx],
                        "shortfall_share": shares[s, idx],
                    }
                )
            )
    columns = ["year", "scenario", "country", "stage", "shortfall_t", "shortfall_share"]
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64" if c.startswith("shortfall") else "string") for c in columns}
        ).astype({"year": "int64"})
    out = pd.concat(frames, ignore_index=True)
    for col in ("scenario", "country", "stage"):
        out[col] = out[col].astype(str)
    return out[columns]
