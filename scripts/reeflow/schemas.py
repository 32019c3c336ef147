"""Column lists of every table, and the pandera schemas of the cleaned trade tables (docs/data-model.md),
checked before every write.

A table that breaks its contract is never written: the MFA would otherwise fail (or worse, run)
years later on a file nobody remembers producing. Column lists live here so that the writer, the
empty-table builders and the validators cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from reeflow.commodities import HS_REVISIONS, STAGES
from reeflow.io import ReeflowError

if TYPE_CHECKING:
    import pandera.pandas as pa

FLOWS: tuple[str, ...] = ("M", "X", "RM", "RX")
# The tables one mfa_year job writes (resources/mfa/{year}/{name}.parquet), in this order.
MFA_YEAR_TABLES: tuple[str, ...] = (
    "balance", "flows", "origins", "indicators", "residuals", "disruption", "headline",
)  # fmt: skip
BASES: tuple[str, ...] = ("importer", "exporter", "weighted_mean", "max", "reconciled")
QTY_SOURCES: tuple[str, ...] = ("netWgt", "qty", "imputed", "missing")
_CODE = r"^[A-Z][A-Z0-9]{2,3}$"  # ISO3 or a stable pseudo-code (X899, WLD, ZA1)
_HS = r"^(\d{4}|\d{6}|\d{7,10})$"  # HS heading, subheading, or a national tariff line

REPORTED_COLUMNS: dict[str, str] = {
    "year": "int64", "reporter": "str", "partner": "str", "flow": "str", "classification": "str",
    "cmd_code": "str", "hs6": "str", "map_status": "str", "qty_t": "float64", "qty_items": "float64",
    "value_usd": "float64", "netwgt_t": "float64", "qty_source": "str", "qty_estimated": "bool",
    "qty_imputed": "bool", "is_world": "bool", "reporter_is_country": "bool", "partner_is_country": "bool",
}  # fmt: skip

TRADE_COLUMNS: dict[str, str] = {
    "year": "int64", "exporter": "str", "importer": "str", "hs6": "str", "stage": "str",
    "qty_t": "float64", "qty_items": "float64", "value_usd": "float64", "basis": "str",
    "qty_t_importer": "float64", "qty_t_exporter": "float64", "items_importer": "float64",
    "items_exporter": "float64", "value_usd_importer": "float64", "value_usd_exporter": "float64",
    "discrepancy_ratio": "float64", "disputed": "bool", "one_sided": "bool", "imputed": "bool",
    "imputed_importer": "bool", "imputed_exporter": "bool", "hk_roundtrip": "bool", "reexport": "bool",
    "cross_code": "str",
}  # fmt: skip

# One row per cross-code match: a shipment the exporter booked under one code and the importer under
# another (reeflow.clean.reconcile.apply_cross_code).
CROSS_CODE_COLUMNS: dict[str, str] = {
    "year": "int64", "rule": "str", "exporter": "str", "importer": "str", "exporter_code": "str",
    "importer_code": "str", "target": "str", "qty_t_exporter_declared": "float64",
    "qty_t_importer_same_code": "float64", "qty_t_moved": "float64", "qty_t_importer_cross": "float64",
    "citation": "str",
}  # fmt: skip

COVERAGE_COLUMNS: dict[str, str] = {
    "year": "int64", "reporter": "str", "flow": "str", "hs6": "str", "n_records": "int64",
    "n_partners": "int64", "n_qty_missing": "int64", "qty_t": "float64", "value_usd": "float64",
    "share_imputed": "float64",
}  # fmt: skip

WORLD_CHECK_COLUMNS: dict[str, str] = {
    "year": "int64", "reporter": "str", "flow": "str", "cmd_code": "str", "world_qty_t": "float64",
    "partners_qty_t": "float64", "ratio": "float64", "world_netwgt_t": "float64",
    "partners_netwgt_t": "float64", "world_value_usd": "float64", "partners_value_usd": "float64",
    "n_partners": "int64", "flag": "str",
}  # fmt: skip

DISCREPANCY_COLUMNS: dict[str, str] = {
    "year": "int64", "exporter": "str", "importer": "str", "hs6": "str", "reexport": "bool",
    "qty_t_importer": "float64", "qty_t_exporter": "float64", "ratio": "float64",
    "value_usd_importer": "float64", "value_usd_exporter": "float64", "reason": "str",
}  # fmt: skip

UNMAPPED_COLUMNS: dict[str, str] = {
    "year": "int64", "reporter": "str", "flow": "str", "partner": "str", "classification": "str",
    "cmd_code": "str", "hs6": "str", "reason": "str", "n_records": "int64", "qty_t": "float64",
    "value_usd": "float64",
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# The MFA's public tables (docs/data-model.md, README "Outputs"): one home for every column list
# --------------------------------------------------------------------------------------------
BALANCE_COLUMNS: list[str] = [
    "year", "country", "stage", "production_t", "imports_t", "exports_t", "apparent_consumption_t",
    "net_exports_t", "losses_t", "unprocessed_t", "production_basis", "two_sided_share", "unreported_flows",
]  # fmt: skip
# What every figure of the balance needs (the first eight columns of the contract).
BALANCE_PLOT_COLUMNS: list[str] = BALANCE_COLUMNS[:8]
FLOW_COLUMNS: list[str] = ["year", "stage", "exporter", "importer", "hs6", "reo_t", "basis"]
HEADLINE_COLUMNS: list[str] = [
    "year", "us_net_exports_t", "us_net_exporter", "us_top_export_destination", "china_share_of_us_exports",
    "us_rank_among_china_suppliers", "china_net_exports_t", "us_china_interdependence", "two_sided_share",
    "missing_reporters",
]  # fmt: skip
UNCERTAINTY_COLUMNS: list[str] = ["year", "indicator", "p05", "p50", "p95"]
# Supply shocks (reeflow.mfa.shocks): every country's supply shortfall by stage and order, per
# network (actual or a counterfactual without the US-China links) and scenario.
SHOCK_COLUMNS: dict[str, str] = {
    "year": "int64", "network": "str", "scenario": "str", "country": "str", "stage": "str", "order": "str",
    "shortfall_t": "float64", "shortfall_share": "float64",
}  # fmt: skip
# Values those tables hold (the model writes them, the figures select rows by them).
SHOCK_ORDERS: tuple[str, ...] = ("first_order", "propagated", "rerouted")
SHOCK_COUNTERFACTUALS: tuple[str, ...] = ("reallocate", "remove")
ACTUAL_NETWORK = "actual"
EXPECTED_LINK_FAILURE = "expected_link_failure"
# Final-stage consumption shortfall after rerouting, actual vs counterfactual; stabilisation =
# counterfactual share - actual share (> 0: the links make the shock smaller); p05-p95 Monte Carlo.
STABILISATION_COLUMNS: dict[str, str] = {
    "year": "int64", "counterfactual": "str", "shock_set": "str", "country": "str", "rerouting": "str",
    "spare_fraction": "float64", "actual_shortfall_t": "float64", "counterfactual_shortfall_t": "float64",
    "actual_shortfall_share": "float64", "counterfactual_shortfall_share": "float64",
    "stabilisation": "float64", "p05": "float64", "p50": "float64", "p95": "float64", "n_draws": "int64",
}  # fmt: skip
# `make update` (reeflow.acquire.update): what a refresh changed, per raw year and reporter, and in the headline.
UPDATE_RECORDS_COLUMNS: list[str] = [
    "dataset", "year", "reporter", "reporter_code", "records_before", "records_after", "added", "removed", "changed",
    "reason",
]  # fmt: skip
UPDATE_HEADLINE_COLUMNS: list[str] = ["year", "indicator", "before", "after", "changed", "year_refreshed"]
# The columns of the trade contract that each step reads (Parquet reads only these at global scale).
MFA_TRADE_COLUMNS: list[str] = ["exporter", "importer", "hs6", "qty_t", "qty_items", "basis", "reexport"]
SENSITIVITY_TRADE_COLUMNS: list[str] = [
    *MFA_TRADE_COLUMNS, "qty_t_importer", "qty_t_exporter", "items_importer", "items_exporter", "imputed",
    "imputed_importer", "imputed_exporter",
]  # fmt: skip
# The US trade of one year under every mirror rule (mfa_year writes it, the validation collects it).
US_TRADE_BY_RULE_COLUMNS: dict[str, str] = {
    "mirror_rule": "str", "year": "int64", "stage": "str", "imports_t": "float64", "exports_t": "float64",
}  # fmt: skip
assert set(SENSITIVITY_TRADE_COLUMNS) <= set(TRADE_COLUMNS), "a trade view names a column outside the contract"


def empty_table(columns: Mapping[str, str]) -> pd.DataFrame:
    """A zero-row table with the contract's columns and dtypes (so readers can concatenate it)."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """The contract's columns, in order and with their dtypes; extra columns are dropped."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReeflowError(f"internal: table lacks column(s) {missing} of its contract")
    out = frame.loc[:, list(columns)].reset_index(drop=True)
    return out.astype(dict(columns))


@functools.cache
def _contracts() -> dict[str, pa.DataFrameSchema]:
    """The pandera schemas, built on first use: importing pandera costs a job 0.35 s, and only the
    cleaning jobs, which write these tables, need it (the column lists above serve everyone else)."""
    import pandera.pandas as pa

    def _nonneg(nullable: bool = True) -> pa.Column:
        return pa.Column(float, pa.Check.ge(0), nullable=nullable)

    reported = pa.DataFrameSchema(
        {
            "year": pa.Column(int, pa.Check.in_range(1988, 2100)),
            "reporter": pa.Column(str, pa.Check.str_matches(_CODE)),
            "partner": pa.Column(str, pa.Check.str_matches(_CODE)),
            "flow": pa.Column(str, pa.Check.isin(FLOWS)),
            "classification": pa.Column(str, pa.Check.isin(HS_REVISIONS)),
            "cmd_code": pa.Column(str),
            "hs6": pa.Column(str, pa.Check.str_matches(r"^(\d{4}|\d{6}|\d{7,10})?$")),
            "map_status": pa.Column(str),
            "qty_t": _nonneg(),
            "qty_items": _nonneg(),
            "value_usd": _nonneg(),
            "netwgt_t": _nonneg(),
            "qty_source": pa.Column(str, pa.Check.isin(QTY_SOURCES)),
            "qty_estimated": pa.Column(bool),
            "qty_imputed": pa.Column(bool),
            "is_world": pa.Column(bool),
            "reporter_is_country": pa.Column(bool),
            "partner_is_country": pa.Column(bool),
        },
        checks=[
            pa.Check(lambda d: (d["partner"] == "WLD") == d["is_world"], name="partner WLD exactly when is_world"),
            pa.Check(lambda d: ~d["qty_imputed"] | d["qty_t"].gt(0), name="imputed rows have a quantity"),
        ],
        unique=["year", "reporter", "partner", "flow", "classification", "cmd_code"],
        strict=True,
        ordered=True,
    )

    trade = pa.DataFrameSchema(
        {
            "year": pa.Column(int, pa.Check.in_range(1988, 2100)),
            "exporter": pa.Column(str, pa.Check.str_matches(_CODE)),
            "importer": pa.Column(str, pa.Check.str_matches(_CODE)),
            "hs6": pa.Column(str, pa.Check.str_matches(_HS)),
            "stage": pa.Column(str, pa.Check.isin(STAGES)),
            "qty_t": _nonneg(),
            "qty_items": _nonneg(),
            "value_usd": _nonneg(),
            "basis": pa.Column(str, pa.Check.isin(BASES)),
            "qty_t_importer": _nonneg(),
            "qty_t_exporter": _nonneg(),
            "items_importer": _nonneg(),
            "items_exporter": _nonneg(),
            "value_usd_importer": _nonneg(),
            "value_usd_exporter": _nonneg(),
            "discrepancy_ratio": pa.Column(float, pa.Check.ge(1), nullable=True),
            "disputed": pa.Column(bool),
            "one_sided": pa.Column(bool),
            "imputed": pa.Column(bool),
            "imputed_importer": pa.Column(bool),
            "imputed_exporter": pa.Column(bool),
            "hk_roundtrip": pa.Column(bool),
            "reexport": pa.Column(bool),
            "cross_code": pa.Column(str, pa.Check.str_matches(r"^(\d{4,10})?$")),
        },
        checks=[
            pa.Check(lambda d: d["reexport"] | (d["exporter"] != d["importer"]), name="no self-trade in supply flows"),
            pa.Check(lambda d: ~d["disputed"] | d["discrepancy_ratio"].notna(), name="disputed flows have a ratio"),
            pa.Check(lambda d: ~d["exporter"].isin(["WLD"]) & ~d["importer"].isin(["WLD"]), name="World is no partner"),
        ],
        unique=["year", "exporter", "importer", "hs6", "reexport"],
        strict=True,
        ordered=True,
    )

    return {"REPORTED_SCHEMA": reported, "TRADE_SCHEMA": trade}


def __getattr__(name: str) -> Any:
    """REPORTED_SCHEMA and TRADE_SCHEMA as module attributes, built lazily (PEP 562)."""
    if name in ("REPORTED_SCHEMA", "TRADE_SCHEMA"):
        return _contracts()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate_table(frame: pd.DataFrame, schema: pa.DataFrameSchema, table: str, max_rows: int = 5) -> pd.DataFrame:
    """``frame`` if it meets ``schema``; else a ReeflowError naming the table, columns and rows."""
    import pandera.pandas as pa

    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise ReeflowError(f"{table}: {describe_failures(err.failure_cases, frame, max_rows)}") from err


def describe_failures(cases: pd.DataFrame, frame: pd.DataFrame, max_rows: int = 5) -> str:
    """One clause per failed check: the column, the check and the first offending rows."""
    parts: list[str] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rows = [int(i) for i in group["index"].dropna().unique()[:max_rows]]
        shown = _show_rows(frame, rows)
        parts.append(
            f"column {column!s} fails {check!s} in {len(group)} case(s), "
            f"e.g. values {group['failure_case'].head(max_rows).tolist()}" + (f" in rows {shown}" if shown else "")
        )
    return "; ".join(parts) + ". This is a bug in cleaning or a malformed raw file: report it with the rows."


def _show_rows(frame: pd.DataFrame, rows: Sequence[int]) -> str:
    keys = [c for c in ("year", "reporter", "partner", "flow", "cmd_code", "exporter", "importer", "hs6")
            if c in frame.columns]  # fmt: skip
    valid = [r for r in rows if 0 <= r < len(frame)]
    if not valid or not keys:
        return ""
    return str(frame.iloc[valid][keys].to_dict("records"))
