"""HS codes across revisions: which commodity-table row a reported Comtrade code belongs to.

Reporters declare in the HS revision in force for them (``classificationCode`` H0..H6), and the
commodity table says which revisions each of its rows applies to: 870390 held hybrid and electric
cars only until HS2017 (H0-H4), after which they have their own 870340..870380 lines (H5/H6); NiMH
batteries were in 850780 until HS2012. Mapping a code without its revision would count a 2018
petrol car as an electric one, so every mapping here takes the revision into account.

Four-digit reports (some reporters publish only the heading, e.g. 2846) are mapped to a four-digit
table row only when the same declaration (year, reporter, flow, partner) carries no six-digit child
under that heading; otherwise the heading is the sum of its children and would be counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reeflow.commodities import HS_REVISIONS, STAGES
from reeflow.io import ReeflowError

# First data year of each revision: only a fallback when a record carries no classificationCode.
REVISION_FIRST_YEAR: dict[str, int] = {
    "H0": 1988, "H1": 1996, "H2": 2002, "H3": 2007, "H4": 2012, "H5": 2017, "H6": 2022,
}  # fmt: skip

# How a record's code relates to the commodity table (the ``map_status`` column of ``reported``).
MAPPED = "mapped"  # the code is a table row for this revision
HEADING = "heading"  # a six-digit code whose four-digit heading is a table row
AGGREGATE = "aggregate_of_children"  # a heading reported beside its own six-digit children
REVISION_EXCLUDED = "revision_excluded"  # a table code, but not for the reporter's revision
NO_TABLE_ROW = "no_table_row"  # neither the code nor its heading is in the table
NOT_HS = "not_hs4_or_hs6"  # chapters, totals or malformed codes
MAP_STATUSES: tuple[str, ...] = (MAPPED, HEADING, AGGREGATE, REVISION_EXCLUDED, NO_TABLE_ROW, NOT_HS)


def commodity_frame(commodities: Sequence[Mapping[str, Any]], where: str = "params.commodities") -> pd.DataFrame:
    """The cleaning part of the commodity table, one row per code, with its revisions as a tuple.

    Checked again here because the rule receives it as params, which a user can override."""
    if not commodities:
        raise ReeflowError(f"{where}: the commodity list is empty; check config `commodities:`")
    table = pd.DataFrame(list(commodities))
    missing = [c for c in ("hs_code", "stage", "revisions") if c not in table.columns]
    if missing:
        raise ReeflowError(f"{where}: commodity entries lack key(s) {missing}; pass hs_code, stage, revisions")
    table["hs_code"] = table["hs_code"].astype(str).str.strip()
    bad = ~table["hs_code"].str.fullmatch(r"\d{4}|\d{6}")
    if bad.any():
        raise ReeflowError(f"{where}: hs_code must have 4 or 6 digits, got {table.loc[bad, 'hs_code'].tolist()}")
    bad_stage = ~table["stage"].isin(STAGES)
    if bad_stage.any():
        raise ReeflowError(f"{where}: stage must be one of {STAGES}, got {table.loc[bad_stage, 'stage'].tolist()}")
    if table["hs_code"].duplicated().any():
        raise ReeflowError(f"{where}: duplicate hs_code {table.loc[table['hs_code'].duplicated(), 'hs_code'].tolist()}")
    table["revisions"] = table["revisions"].map(_parse_revisions)
    if "unit_basis" not in table.columns:
        table["unit_basis"] = "t"
    return table[["hs_code", "stage", "unit_basis", "revisions"]].reset_index(drop=True)


def _parse_revisions(value: Any) -> tuple[str, ...]:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    revs = tuple(r.strip() for r in text.split("|") if r.strip())
    unknown = [r for r in revs if r not in HS_REVISIONS]
    if unknown:
        raise ReeflowError(f"params.commodities: unknown HS revision(s) {unknown}; use H0..H6 separated by |")
    return revs or HS_REVISIONS


def applicable_codes(table: pd.DataFrame, revision: str) -> frozenset[str]:
    """Table codes that apply to a reporter using ``revision``."""
    return frozenset(table.loc[table["revisions"].map(lambda revs: revision in revs), "hs_code"])


def normalise_cmd_code(codes: pd.Series) -> pd.Series:
    """Codes as digit strings of even length: CSV readers may have turned 010110 into 10110 or 2846.0."""
    text = codes.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    odd = text.str.len() % 2 == 1
    return text.mask(odd & text.str.fullmatch(r"\d+").fillna(False), "0" + text).fillna("").astype(str)


def revision_from_year(year: int) -> str:
    """The revision most reporters used in ``year``; only for records without classificationCode."""
    current = "H0"
    for revision, first in REVISION_FIRST_YEAR.items():
        if year >= first:
            current = revision
    return current


def fill_revisions(classification: pd.Series, years: pd.Series) -> pd.Series:
    """classificationCode where it names an HS revision, else the revision in force that year."""
    text = classification.astype("string").str.strip().str.upper()
    valid = text.isin(HS_REVISIONS).fillna(False)
    fallback = years.astype(int).map(revision_from_year)
    return text.where(valid, fallback).astype(str)


def map_codes(cmd_code: pd.Series, revision: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """Table code (``hs6``, empty if none) and ``map_status`` of each (code, revision) pair.

    Aggregates are not decided here (they need the other records): see ``mark_aggregates``."""
    out = pd.DataFrame({"hs6": "", "map_status": NO_TABLE_ROW}, index=cmd_code.index)
    all_codes = frozenset(table["hs_code"])
    is_hs = cmd_code.str.fullmatch(r"\d{4}|\d{6}").fillna(False)
    out.loc[~is_hs, "map_status"] = NOT_HS
    heading = cmd_code.str[:4]
    for rev in revision.unique():
        codes = applicable_codes(table, rev)
        in_rev = (revision == rev) & is_hs
        exact = in_rev & cmd_code.isin(codes)
        by_heading = in_rev & ~exact & (cmd_code.str.len() == 6) & heading.isin(codes)
        out.loc[exact, "hs6"] = cmd_code[exact]
        out.loc[exact, "map_status"] = MAPPED
        out.loc[by_heading, "hs6"] = heading[by_heading]
        out.loc[by_heading, "map_status"] = HEADING
        excluded = in_rev & ~exact & ~by_heading & (cmd_code.isin(all_codes) | heading.isin(all_codes))
        out.loc[excluded, "map_status"] = REVISION_EXCLUDED
    return out


def mark_aggregates(frame: pd.DataFrame, keys: Sequence[str], code_col: str = "cmd_code") -> pd.Series:
    """True for four-digit records whose declaration (``keys``) also has a six-digit child code.

    The child may itself be unmapped: the heading is still its sum, so counting the heading would
    double count whatever the children carry."""
    code = frame[code_col]
    six = frame.loc[code.str.len() == 6, [*keys]].assign(_heading=code[code.str.len() == 6].str[:4])
    children = six.drop_duplicates()
    four = frame.loc[code.str.len() == 4, [*keys]].assign(_heading=code[code.str.len() == 4])
    if four.empty or children.empty:
        return pd.Series(False, index=frame.index)
    joined = four.reset_index().merge(children, on=[*keys, "_heading"], how="inner")
    marked = pd.Series(False, index=frame.index)
    marked.loc[joined["index"].unique()] = True
    return marked


def map_records(
    frame: pd.DataFrame,
    table: pd.DataFrame,
    keys: Sequence[str] = ("year", "reporter_code", "flow", "partner_code"),
) -> pd.DataFrame:
    """``frame`` with ``hs6`` and ``map_status`` added from ``cmd_code`` and ``classification``."""
    mapped = map_codes(frame["cmd_code"], frame["classification"], table)
    aggregate = mark_aggregates(frame, list(keys)) & (mapped["map_status"] == MAPPED)
    mapped.loc[aggregate, "hs6"] = ""
    mapped.loc[aggregate, "map_status"] = AGGREGATE
    return frame.assign(hs6=mapped["hs6"].astype(str), map_status=mapped["map_status"].astype(str))


def stage_of(hs6: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Supply-chain stage of each table code."""
    stages = dict(zip(table["hs_code"], table["stage"], strict=True))
    return hs6.map(stages).astype(str)
