"""The commodity table: which HS codes carry REE, at which stage, and how much.

Every coefficient has a low, central and high value and a citation, so that a user can change it
and the sensitivity analysis can vary it; this module only loads and checks the table.
"""

from __future__ import annotations

import os

import pandas as pd

from reeflow.io import ReeflowError

STAGES: tuple[str, ...] = ("mining", "separation", "metal", "intermediate", "final")
HS_REVISIONS: tuple[str, ...] = ("H0", "H1", "H2", "H3", "H4", "H5", "H6")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "hs_code",
    "stage",
    "description",
    "unit_basis",
    "item_mass_t",
    "content_low",
    "content_central",
    "content_high",
    "share_low",
    "share_central",
    "share_high",
    "revisions",
    "include",
    "citation",
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "content_low",
    "content_central",
    "content_high",
    "share_low",
    "share_central",
    "share_high",
)


def _fail(path: str | os.PathLike[str], msg: str) -> ReeflowError:
    return ReeflowError(f"commodity table {path}: {msg}")


def load_commodities(path: str | os.PathLike[str], included_only: bool = True) -> pd.DataFrame:
    """Load and check the commodity table; raise a ReeflowError naming the row and column."""
    try:
        table = pd.read_csv(path, dtype={"hs_code": str, "revisions": str}, keep_default_na=False)
    except FileNotFoundError as err:
        raise _fail(path, "file not found; set `commodities:` in the config") from err
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise _fail(path, f"missing column(s) {missing}; see config/commodities.csv for the layout")
    table["hs_code"] = table["hs_code"].str.strip()
    bad_code = ~table["hs_code"].str.fullmatch(r"\d{4}|\d{6}")
    if bad_code.any():
        raise _fail(path, f"hs_code must have 4 or 6 digits, rows {_rows(bad_code)}")
    if table["hs_code"].duplicated().any():
        raise _fail(path, f"duplicate hs_code {sorted(table.loc[table.hs_code.duplicated(), 'hs_code'])}")
    bad_stage = ~table["stage"].isin(STAGES)
    if bad_stage.any():
        raise _fail(path, f"column stage must be one of {STAGES}, rows {_rows(bad_stage)}")
    bad_basis = ~table["unit_basis"].isin(["t", "item"])
    if bad_basis.any():
        raise _fail(path, f"column unit_basis must be 't' or 'item', rows {_rows(bad_basis)}")
    for col in NUMERIC_COLUMNS:
        table[col] = pd.to_numeric(table[col], errors="coerce")
        bad = table[col].isna() | (table[col] < 0)
        if bad.any():
            raise _fail(path, f"column {col} must be a non-negative number, rows {_rows(bad)}")
    table["item_mass_t"] = pd.to_numeric(table["item_mass_t"].replace("", None), errors="coerce")
    items_without_mass = (table["unit_basis"] == "item") & ~(table["item_mass_t"] > 0)
    if items_without_mass.any():
        raise _fail(path, f"item_mass_t must be positive for unit_basis=item, rows {_rows(items_without_mass)}")
    for kind in ("content", "share"):
        lo, mid, hi = (table[f"{kind}_{level}"] for level in ("low", "central", "high"))
        unordered = (lo > mid) | (mid > hi)
        if unordered.any():
            raise _fail(path, f"{kind}_low <= {kind}_central <= {kind}_high fails, rows {_rows(unordered)}")
    if (table["share_high"] > 1).any():
        raise _fail(path, f"share_high must be at most 1, rows {_rows(table['share_high'] > 1)}")
    table["include"] = table["include"].astype(str).str.strip().str.lower().map(
        {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    )
    if table["include"].isna().any():
        raise _fail(path, f"column include must be true or false, rows {_rows(table['include'].isna())}")
    table["include"] = table["include"].astype(bool)
    table["revisions"] = table["revisions"].fillna("").str.strip()
    for idx, revs in table["revisions"].items():
        unknown = [r for r in revs.split("|") if r and r not in HS_REVISIONS]
        if unknown:
            raise _fail(path, f"column revisions has unknown HS revision(s) {unknown} in row {idx + 2}")
    table = _check_products(path, table)
    if included_only:
        table = table[table["include"]].reset_index(drop=True)
    return table


def _check_products(path: str | os.PathLike[str], table: pd.DataFrame) -> pd.DataFrame:
    """Optional column ``product`` (e.g. cars, wind): which in-use stock a final good feeds.

    Absent means no product anywhere; only final-stage rows may name one, since only final
    goods enter use (the stock model's inflow)."""
    if "product" not in table.columns:
        return table.assign(product="")
    table["product"] = table["product"].fillna("").astype(str).str.strip()
    misplaced = (table["product"] != "") & (table["stage"] != "final")
    if misplaced.any():
        raise _fail(path, f"column product is only for stage final rows, rows {_rows(misplaced)}")
    return table


def _rows(mask: pd.Series) -> list[int]:
    """Spreadsheet row numbers (header is row 1) of the offending rows."""
    return [int(i) + 2 for i in mask[mask].index]


def revisions_of(row: pd.Series) -> tuple[str, ...]:
    """HS revisions a commodity row applies to; empty means all of them."""
    revs = tuple(r for r in str(row["revisions"]).split("|") if r)
    return revs or HS_REVISIONS


def cmd_codes_to_request(table: pd.DataFrame) -> list[str]:
    """Codes to ask Comtrade for: every 6-digit code, plus 4-digit headings as reported."""
    return sorted(table["hs_code"].unique())
