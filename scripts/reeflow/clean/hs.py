"""HS codes across revisions: which commodity-table row a reported Comtrade code belongs to.

Reporters declare in the HS revision in force for them (``classificationCode`` H0..H6), and the
commodity table says which revisions each of its rows applies to: 870390 held hybrid and electric
cars only until HS2017 (H0-H4), after which they have their own 870340..870380 lines (H5/H6); NiMH
batteries were in 850780 until HS2012. Mapping a code without its revision would count a 2018
petrol car as an electric one, so every mapping here takes the revision into account.

Four-digit reports (some reporters publish only the heading, e.g. 2846) are mapped to a four-digit
table row only when the same declaration (year, reporter, flow, partner) carries no six-digit child
under that heading; otherwise the heading is the sum of its children and would be counted twice.

National tariff lines (7-10 digits, from Comtrade's tariff-line data) map to the most specific
table row of *their reporter* that they start with (China's 25309020 to its own row; 28469011 to
the 7-digit row 2846901, oxides), else to their HS6 parent, else to its heading. Where a reporter's
tariff lines exist for a year and flow, its HS records of the same parent say the same thing less
precisely: they are marked superseded and left out (China's HS 253090, of which rare-earth ores are
a few percent, gives way to 2530.90.20, which is all rare-earth ore).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reeflow.commodities import CODE_PATTERN, HS_REVISIONS, NATIONAL_MIN_DIGITS, STAGES
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
NATIONAL_PARENT = "national_line_parent"  # a national line without its own row, mapped to its HS6 parent
SUPERSEDED = "superseded_by_national_line"  # an HS record whose reporter's tariff lines say it better
MAP_STATUSES: tuple[str, ...] = (
    MAPPED, HEADING, AGGREGATE, REVISION_EXCLUDED, NO_TABLE_ROW, NOT_HS, NATIONAL_PARENT, SUPERSEDED,
)  # fmt: skip


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
    bad = ~table["hs_code"].str.fullmatch(CODE_PATTERN)
    if bad.any():
        raise ReeflowError(f"{where}: hs_code must have 4 or 6 digits (7-10 for a national line), "
                           f"got {table.loc[bad, 'hs_code'].tolist()}")  # fmt: skip
    bad_stage = ~table["stage"].isin(STAGES)
    if bad_stage.any():
        raise ReeflowError(f"{where}: stage must be one of {STAGES}, got {table.loc[bad_stage, 'stage'].tolist()}")
    if table["hs_code"].duplicated().any():
        raise ReeflowError(f"{where}: duplicate hs_code {table.loc[table['hs_code'].duplicated(), 'hs_code'].tolist()}")
    table["revisions"] = table["revisions"].map(_parse_revisions)
    if "unit_basis" not in table.columns:
        table["unit_basis"] = "t"
    if "reporter" not in table.columns:
        table["reporter"] = ""
    table["reporter"] = table["reporter"].fillna("").astype(str).str.strip().str.upper()
    unnamed = (table["hs_code"].str.len() >= NATIONAL_MIN_DIGITS) & (table["reporter"] == "")
    if unnamed.any():
        raise ReeflowError(f"{where}: national lines {table.loc[unnamed, 'hs_code'].tolist()} need a reporter (ISO3)")
    return table[["hs_code", "stage", "unit_basis", "revisions", "reporter"]].reset_index(drop=True)


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


def is_national(codes: pd.Series) -> pd.Series:
    """Codes longer than HS6: national tariff lines."""
    return codes.str.len() >= NATIONAL_MIN_DIGITS


def map_national_lines(
    cmd_code: pd.Series, revision: pd.Series, reporter: pd.Series, table: pd.DataFrame
) -> pd.DataFrame:
    """``hs6`` and ``map_status`` of national lines: own row of the reporter, else HS6 parent, else heading."""
    out = pd.DataFrame({"hs6": "", "map_status": NO_TABLE_ROW}, index=cmd_code.index)
    if cmd_code.empty:
        return out
    national_rows = table[table["hs_code"].str.len() >= NATIONAL_MIN_DIGITS]
    for (rev, who), idx in cmd_code.groupby([revision, reporter]).groups.items():
        codes = cmd_code.loc[idx]
        usable = applicable_codes(table, str(rev))
        own = national_rows[(national_rows["reporter"] == who) & national_rows["hs_code"].isin(usable)]
        best = pd.Series("", index=codes.index, dtype=object)
        for row_code in sorted(own["hs_code"], key=len):  # longer prefixes overwrite shorter ones
            best[codes.str.startswith(row_code)] = row_code
        parent, heading = codes.str[:6], codes.str[:4]
        has_own = best != ""
        by_parent = ~has_own & parent.isin(usable)
        by_heading = ~has_own & ~by_parent & heading.isin(usable)
        out.loc[codes.index[has_own], "hs6"] = best[has_own]
        out.loc[codes.index[has_own], "map_status"] = MAPPED
        out.loc[codes.index[by_parent], "hs6"] = parent[by_parent]
        out.loc[codes.index[by_parent], "map_status"] = NATIONAL_PARENT
        out.loc[codes.index[by_heading], "hs6"] = heading[by_heading]
        out.loc[codes.index[by_heading], "map_status"] = HEADING
    return out


def superseded_by_national_lines(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """HS records (4 or 6 digits) of a reporter, year and flow whose code heads one of its national lines.

    Tariff-line data list every partner, so the reporter's HS record of the same parent, for any
    partner, is the same trade said less precisely; counting both would count it twice."""
    code = frame["cmd_code"]
    national = is_national(code)
    if not national.any():
        return pd.Series(False, index=frame.index)
    lines = frame.loc[national, list(keys)].assign(_p6=code[national].str[:6])
    parents = pd.concat([lines, lines.assign(_p6=lines["_p6"].str[:4])]).drop_duplicates()
    hs = frame.loc[~national & code.str.len().isin([4, 6]), list(keys)].assign(_p6=code)
    joined = hs.reset_index().merge(parents, on=[*keys, "_p6"], how="inner")
    marked = pd.Series(False, index=frame.index)
    marked.loc[joined["index"].unique()] = True
    return marked


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
    year = years.astype(int)
    fallback = year.map({y: revision_from_year(y) for y in year.unique()})  # once per distinct year
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
    national = is_national(frame["cmd_code"])
    if national.any():
        reporter = frame["reporter"] if "reporter" in frame.columns else pd.Series("", index=frame.index)
        mapped.loc[national] = map_national_lines(
            frame.loc[national, "cmd_code"], frame.loc[national, "classification"], reporter[national], table
        )
    aggregate = mark_aggregates(frame, list(keys)) & (mapped["map_status"] == MAPPED)
    mapped.loc[aggregate, "hs6"] = ""
    mapped.loc[aggregate, "map_status"] = AGGREGATE
    superseded = superseded_by_national_lines(frame, [k for k in keys if k != "partner_code"])
    mapped.loc[superseded, "hs6"] = ""
    mapped.loc[superseded, "map_status"] = SUPERSEDED
    return frame.assign(hs6=mapped["hs6"].astype(str), map_status=mapped["map_status"].astype(str))


def stage_of(hs6: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Supply-chain stage of each table code."""
    stages = dict(zip(table["hs_code"], table["stage"], strict=True))
    return hs6.map(stages).astype(str)
