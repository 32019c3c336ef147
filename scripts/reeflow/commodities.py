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
# HS headings (4 digits) and subheadings (6), or national tariff lines (7-10 digits, one reporter's
# own subdivision of an HS6 code, e.g. China's 2530.90.20 ores of rare-earth metals). A 7-digit row
# stands for every national line that starts with it (China's 2846.90.1x oxides).
CODE_PATTERN = r"\d{4}|\d{6}|\d{7,10}"
NATIONAL_MIN_DIGITS = 7
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
    bad_code = ~table["hs_code"].str.fullmatch(CODE_PATTERN)
    if bad_code.any():
        raise _fail(path, f"hs_code must have 4 or 6 digits (HS) or 7-10 (a national line), rows {_rows(bad_code)}")
    table = _check_reporters(path, table)
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


def _check_reporters(path: str | os.PathLike[str], table: pd.DataFrame) -> pd.DataFrame:
    """Optional column ``reporter``: the country whose national tariff lines a 7-10 digit row is.

    National subdivisions differ between countries (China's 2530.90.20 is not another customs
    service's 2530.90.20), so a national row must name its reporter, and an HS row must not."""
    if "reporter" not in table.columns:
        table = table.assign(reporter="")
    table["reporter"] = table["reporter"].fillna("").astype(str).str.strip().str.upper()
    national = table["hs_code"].str.len() >= NATIONAL_MIN_DIGITS
    unnamed = national & (table["reporter"] == "")
    if unnamed.any():
        raise _fail(path, f"national lines (7-10 digits) need column reporter (ISO3), rows {_rows(unnamed)}")
    misplaced = ~national & (table["reporter"] != "")
    if misplaced.any():
        raise _fail(path, f"column reporter is only for national lines (7-10 digits), rows {_rows(misplaced)}")
    bad_iso = national & ~table["reporter"].str.fullmatch(r"[A-Z]{3}")
    if bad_iso.any():
        raise _fail(path, f"column reporter must be an ISO3 code such as CHN, rows {_rows(bad_iso)}")
    orphan = national & ~table["hs_code"].str[:6].isin(table["hs_code"]) & ~table["hs_code"].str[:4].isin(
        table["hs_code"]
    )
    if orphan.any():
        raise _fail(path, f"national lines need their HS6 or HS4 parent as a row too, rows {_rows(orphan)}")
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


CLEANING_COLUMNS: tuple[str, ...] = ("hs_code", "stage", "unit_basis", "revisions", "reporter")


def cleaning_records(table: pd.DataFrame) -> list[dict[str, object]]:
    """The part of the table that cleaning needs (codes, stages, revisions, national reporters).

    Passed to the cleaning rule as params rather than the file, so that editing a content
    coefficient reruns the MFA but not the cleaning."""
    if "reporter" not in table.columns:
        table = table.assign(reporter="")
    return table[list(CLEANING_COLUMNS)].to_dict("records")


def cmd_codes_to_request(table: pd.DataFrame) -> list[str]:
    """HS codes to ask Comtrade's HS endpoints for: 6-digit codes and 4-digit headings.

    National lines are not HS codes: they come from the tariff-line endpoints."""
    codes = table["hs_code"].astype(str)
    return sorted(codes[codes.str.len() < NATIONAL_MIN_DIGITS].unique())
