"""Comtrade v1 records -> the ``reported`` table: countries, HS codes, tonnes, values, flags.

Rules (docs/data-model.md has the columns):
- Only totals are kept: partner2Code 0, customsCode C00, motCode 0 (or missing), annual goods
  records (freqCode A, typeCode C), flows M, X, RM, RX. Anything else is a breakdown of a total
  that is kept, and counting it would double count.
- A declaration reported twice (overlapping answers) is kept once. A reporter-year published in
  more than one HS revision keeps its original classification (else the latest revision).
- Countries come from the numeric codes (``reeflow.countries``); the ISO columns are ignored
  because CSV exports leave them empty. World rows stay, flagged ``is_world``; groups, "areas nes"
  and other pseudo-partners stay, flagged ``partner_is_country`` False; neither reaches the
  bilateral ``trade`` table.
- Tonnes: netWgt/1000 where positive, else the supplementary quantity in a weight unit (kg, t).
  Counted goods (u, 2u, 12u, 1000u) also give ``qty_items``. Zero weights are "not reported".
  A record with a value but no weight gets tonnes from the median unit value (USD/t) of its code
  in that year over the bilateral records that have both, flagged ``qty_imputed``.
- Negative quantities or values are a ReeflowError naming the file, field and record: Comtrade
  never publishes them, so they mean a corrupted or hand-edited file that must be fixed at source.
- Values are primaryValue (CIF for imports, FOB for exports), falling back to cifvalue/fobvalue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reeflow.clean import hs
from reeflow.countries import iso3_from_comtrade
from reeflow.io import ReeflowError, write_parquet_atomic
from reeflow.schemas import (
    CROSS_CODE_COLUMNS,
    DISCREPANCY_COLUMNS,
    FLOWS,
    REPORTED_COLUMNS,
    REPORTED_SCHEMA,
    TRADE_COLUMNS,
    TRADE_SCHEMA,
    UNMAPPED_COLUMNS,
    WORLD_CHECK_COLUMNS,
    empty_table,
    typed,
    validate_table,
)
from reeflow.settings import TradeSettings

log = logging.getLogger(__name__)

IMPORT_FLOWS: frozenset[str] = frozenset({"M", "RM"})
# Supplementary quantity units (WCO / UN Comtrade): tonnes per unit, and items per unit.
WEIGHT_UNIT_CODES: dict[int, float] = {8: 0.001}
WEIGHT_UNIT_ABBRS: dict[str, float] = {"kg": 0.001, "t": 1.0}
ITEM_UNIT_CODES: dict[int, float] = {5: 1.0, 6: 2.0, 9: 1000.0, 11: 12.0}
ITEM_UNIT_ABBRS: dict[str, float] = {"u": 1.0, "2u": 2.0, "1000u": 1000.0, "12u": 12.0}
# A declaration: one reporter's statement about one partner, flow and code in one revision.
RECORD_KEY: tuple[str, ...] = ("year", "reporter_code", "flow", "partner_code", "classification", "cmd_code")
# Every table clean_trade writes for a year (the rule's outputs name them alike).
CLEAN_TRADE_TABLES: tuple[str, ...] = (
    "reported", "trade", "coverage", "world_check", "discrepancies", "unmapped", "cross_code",
)  # fmt: skip
UNMAPPED_KEYS: tuple[str, ...] = ("year", "reporter", "flow", "partner", "classification", "cmd_code", "hs6", "reason")


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    """A v1 field, or all-missing where the export left it out (CSV exports may drop columns)."""
    if name in records.columns:
        return records[name]
    return pd.Series(np.nan, index=records.index, dtype="float64")


def _numeric(records: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(records, name), errors="coerce").astype("float64")


def _as_bool(values: pd.Series) -> pd.Series:
    """Comtrade flags as booleans: JSON true/false, CSV "True"/"False"/1/0; missing is False."""
    if values.dtype == bool:  # JSON flags without a missing one: already the answer (no text round trip)
        return values
    text = values.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "1.0", "yes"]).fillna(False).astype(bool)


# --------------------------------------------------------------------------------------------
# Which records count
# --------------------------------------------------------------------------------------------


def totals_mask(records: pd.DataFrame, year: int | None = None) -> pd.Series:
    """Records that are annual goods totals over partner2, customs procedure and transport mode."""
    partner2 = _numeric(records, "partner2Code")
    mot = _numeric(records, "motCode")
    customs = _column(records, "customsCode").astype("string").str.strip().str.upper()
    freq = _column(records, "freqCode").astype("string").str.strip().str.upper()
    kind = _column(records, "typeCode").astype("string").str.strip().str.upper()
    flow = records["flowCode"].astype("string").str.strip().str.upper()
    keep = (
        (partner2.isna() | (partner2 == 0))
        & (mot.isna() | (mot == 0))
        & (customs.isna() | customs.isin(["C00", ""])).fillna(True)
        & (freq.isna() | (freq == "A")).fillna(True)
        & (kind.isna() | (kind == "C")).fillna(True)
        & flow.isin(FLOWS).fillna(False)
    )
    if year is not None:
        keep &= _numeric(records, "refYear") == year
    return keep.astype(bool)


def check_non_negative(records: pd.DataFrame, where: str) -> None:
    """Raise on a negative quantity or value, naming the file, the field and the records."""
    for field in ("netWgt", "qty", "primaryValue", "cifvalue", "fobvalue"):
        values = _numeric(records, field)
        bad = values < 0
        if bad.any():
            rows = records.loc[bad].head(3)
            shown = [
                f"reporter {r.reporterCode}, partner {r.partnerCode}, flow {r.flowCode}, code {r.cmdCode}: "
                f"{field}={values[i]}"
                for i, r in zip(rows.index, rows.itertuples(), strict=True)
            ]
            raise ReeflowError(
                f"{where}: field {field} is negative in {int(bad.sum())} record(s) ({'; '.join(shown)}). "
                "Comtrade publishes no negative quantities or values: the file is corrupted or edited; "
                "download it again or remove the record from the source file"
            )


# --------------------------------------------------------------------------------------------
# Records -> one tidy frame
# --------------------------------------------------------------------------------------------


def _countries(codes: pd.Series, where: str, field: str) -> tuple[pd.Series, pd.Series]:
    numeric = pd.to_numeric(codes, errors="coerce")
    if numeric.isna().any():
        raise ReeflowError(f"{where}: field {field} is missing or not a number in {int(numeric.isna().sum())} "
                           "record(s); Comtrade v1 records always carry numeric country codes")  # fmt: skip
    # Each distinct code is looked up once (a year has a few hundred among ~10^5 records).
    position, unique = pd.factorize(numeric.astype(int))
    found = [iso3_from_comtrade(int(c)) for c in unique]
    iso = np.array([name for name, _ in found], dtype=object)[position]
    is_country = np.array([country for _, country in found], dtype=bool)[position]
    return pd.Series(iso, index=codes.index).astype(str), pd.Series(is_country, index=codes.index)


def tidy_records(records: pd.DataFrame, where: str) -> pd.DataFrame:
    """The fields cleaning needs, named as in the data model, with countries and revisions resolved."""
    year = _numeric(records, "refYear")
    if year.isna().any():
        raise ReeflowError(f"{where}: field refYear is missing in {int(year.isna().sum())} record(s)")
    reporter, reporter_is_country = _countries(records["reporterCode"], where, "reporterCode")
    partner, partner_is_country = _countries(records["partnerCode"], where, "partnerCode")
    flow = records["flowCode"].astype(str).str.strip().str.upper()
    frame = pd.DataFrame({
        "year": year.astype("int64"),
        "reporter_code": pd.to_numeric(records["reporterCode"]).astype("int64"),
        "partner_code": pd.to_numeric(records["partnerCode"]).astype("int64"),
        "reporter": reporter, "partner": partner, "flow": flow,
        "classification": hs.fill_revisions(_column(records, "classificationCode"), year),
        "cmd_code": hs.normalise_cmd_code(records["cmdCode"]),
        "original": _is_original(_column(records, "isOriginalClassification")),
        "reporter_is_country": reporter_is_country, "partner_is_country": partner_is_country,
    }, index=records.index)  # fmt: skip
    frame["is_world"] = frame["partner_code"] == 0
    frame["partner_is_country"] &= ~frame["is_world"]
    frame = frame.join(quantities(records))
    frame["value_usd"] = values_usd(records, flow)
    return frame


def _is_original(flag: pd.Series) -> pd.Series:
    """isOriginalClassification: only an explicit false (or 0) says a revision is not the original."""
    if flag.dtype == bool:
        return flag
    return ~flag.astype("string").str.lower().isin(["false", "0"]).fillna(False)


def quantities(records: pd.DataFrame) -> pd.DataFrame:
    """Tonnes (and items for counted goods) of each record, with where the tonnes came from."""
    net = _numeric(records, "netWgt")
    qty = _numeric(records, "qty")
    unit_code = _numeric(records, "qtyUnitCode")
    unit_abbr = _column(records, "qtyUnitAbbr").astype("string").str.strip().str.lower()
    t_per_unit = unit_code.map(WEIGHT_UNIT_CODES).fillna(unit_abbr.map(WEIGHT_UNIT_ABBRS).astype("float64"))
    items_per_unit = unit_code.map(ITEM_UNIT_CODES).fillna(unit_abbr.map(ITEM_UNIT_ABBRS).astype("float64"))
    netwgt_t = (net / 1000.0).where(net >= 0)  # a published 0 stays 0 for the World check
    from_qty = (qty * t_per_unit).where((qty > 0) & t_per_unit.notna())
    qty_t = netwgt_t.where(net > 0).fillna(from_qty)
    source = pd.Series("missing", index=records.index, dtype=object)
    source[from_qty.notna()] = "qty"
    source[net > 0] = "netWgt"
    items = (qty * items_per_unit).where((qty > 0) & items_per_unit.notna())
    alt = _numeric(records, "altQty")
    alt_items = alt * _numeric(records, "altQtyUnitCode").map(ITEM_UNIT_CODES)
    items = items.fillna(alt_items.where(alt > 0))
    estimated = _as_bool(_column(records, "isNetWgtEstimated")).where(
        source == "netWgt", _as_bool(_column(records, "isQtyEstimated"))
    )
    return pd.DataFrame({
        "qty_t": qty_t.astype("float64"), "qty_items": items.astype("float64"),
        "netwgt_t": netwgt_t.astype("float64"), "qty_source": source.astype(str),
        "qty_estimated": estimated.astype(bool), "qty_imputed": False,
    }, index=records.index)  # fmt: skip


def values_usd(records: pd.DataFrame, flow: pd.Series) -> pd.Series:
    """primaryValue, else the CIF value of imports and the FOB value of exports."""
    fallback = _numeric(records, "cifvalue").where(flow.isin(IMPORT_FLOWS), _numeric(records, "fobvalue"))
    return _numeric(records, "primaryValue").fillna(fallback)


def drop_duplicate_declarations(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """One record per declaration; one HS revision per reporter and year (never both counted)."""
    duplicated = frame.duplicated(list(RECORD_KEY), keep="first")
    if duplicated.any():
        log.warning("%s: %d repeated declaration(s) kept once (overlapping answers)", where, int(duplicated.sum()))
        frame = frame[~duplicated]
    keys = [frame["year"], frame["reporter_code"]]
    if not (frame.groupby(keys)["classification"].transform("nunique") > 1).any():
        return frame
    any_original = frame.groupby(keys)["original"].transform("any")
    candidate = frame["original"] | ~any_original
    latest = frame["classification"].where(candidate).groupby(keys).transform("max")
    keep = frame["classification"] == latest
    log.warning("%s: %d record(s) in a second HS revision of the same reporter-year left out "
                "(original classification, else the latest, is kept)", where, int((~keep).sum()))  # fmt: skip
    return frame[keep]


def impute_missing_weights(frame: pd.DataFrame) -> pd.DataFrame:
    """Tonnes from the median unit value of the code and year, where a value but no weight exists.

    The median, over bilateral records with both a weight and a value, so that one mis-keyed
    weight does not move every estimate; World rows are left out of the median because they
    repeat their partners' records."""
    known = (frame["qty_t"] > 0) & (frame["value_usd"] > 0) & ~frame["is_world"]
    unit_value = (frame["value_usd"] / frame["qty_t"]).where(known)
    median = unit_value.groupby([frame["year"], frame["cmd_code"]]).transform("median")
    fill = frame["qty_t"].isna() & (frame["value_usd"] > 0) & (median > 0)
    out = frame.copy()
    out.loc[fill, "qty_t"] = frame.loc[fill, "value_usd"] / median[fill]
    out.loc[fill, "qty_imputed"] = True
    out.loc[fill, "qty_source"] = "imputed"
    still_missing = int((out["qty_t"].isna() & (out["value_usd"] > 0)).sum())
    if still_missing:
        log.warning("%d record(s) with a value but no weight and no unit value to impute from", still_missing)
    return out


def reported_from_records(
    records: pd.DataFrame,
    commodities: Sequence[Mapping[str, Any]],
    where: str,
    year: int | None = None,
    impute: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``reported`` table and the ``unmapped`` quality table from raw v1 records."""
    if records.empty:
        return empty_table(REPORTED_COLUMNS), empty_table(UNMAPPED_COLUMNS)
    missing = [f for f in ("refYear", "reporterCode", "partnerCode", "flowCode", "cmdCode") if f not in records]
    if missing:
        raise ReeflowError(f"{where}: records lack the Comtrade v1 field(s) {missing}")
    keep = totals_mask(records, year)
    if (~keep).any():
        log.info("%s: %d record(s) that are not annual goods totals (or another year) left out",
                 where, int((~keep).sum()))  # fmt: skip
    records = records[keep]
    check_non_negative(records, where)
    table = hs.commodity_frame(commodities)
    frame = drop_duplicate_declarations(tidy_records(records, where), where)
    frame = hs.map_records(frame, table)
    if impute:
        frame = impute_missing_weights(frame)
    frame = collapse_same_iso(frame, where)
    reported = typed(frame.sort_values(["reporter", "flow", "partner", "cmd_code"]), REPORTED_COLUMNS)
    return validate_table(reported, REPORTED_SCHEMA, f"{where} -> reported"), unmapped_records(reported)


def collapse_same_iso(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Sum declarations whose Comtrade codes name the same ISO3 (e.g. 280 and 276 for Germany)."""
    keys = ["year", "reporter", "partner", "flow", "classification", "cmd_code"]
    dup = frame.duplicated(keys, keep=False)
    if not dup.any():
        return frame
    log.warning("%s: %d record(s) share a country code with another and are summed", where, int(dup.sum()))
    sums = ("qty_t", "qty_items", "value_usd", "netwgt_t")
    flags = ("qty_estimated", "qty_imputed")
    firsts = [c for c in frame.columns if c not in {*keys, *sums, *flags}]
    grouped = frame[dup].groupby(keys, sort=False)
    merged = grouped[list(sums)].sum(min_count=1).join(grouped[list(flags)].any()).join(grouped[firsts].first())
    merged = merged.reset_index()
    return pd.concat([frame[~dup], merged[frame.columns]], ignore_index=True)


def unmapped_records(reported: pd.DataFrame) -> pd.DataFrame:
    """Kept records that do not reach the bilateral table, World totals aside, and why.

    Reasons: the map status (no table row, revision excluded, aggregate of children, not HS) or,
    for mapped codes, a reporter or partner that is not a country."""
    rows = reported[~reported["is_world"]]
    reason = rows["map_status"].where(rows["hs6"] == "", "")
    reason = reason.mask((reason == "") & ~rows["partner_is_country"], "partner_not_a_country")
    reason = reason.mask((reason == "") & ~rows["reporter_is_country"], "reporter_not_a_country")
    rows = rows.assign(reason=reason)[reason != ""]
    if rows.empty:
        return empty_table(UNMAPPED_COLUMNS)
    from reeflow.clean.quality import grouped_totals

    grouped = grouped_totals(rows, list(UNMAPPED_KEYS), {"qty_t": "qty_t", "value_usd": "value_usd"},
                             {"n_records": ("cmd_code", "size")})
    return typed(grouped, UNMAPPED_COLUMNS)


# --------------------------------------------------------------------------------------------
# One year, end to end
# --------------------------------------------------------------------------------------------


def sum_tariff_line_rows(records: pd.DataFrame) -> pd.DataFrame:
    """One record per tariff-line declaration: collectors save a partner's line in several rows
    (by customs procedure or transport mode, with those fields dropped), which must be summed,
    not taken for repeated answers."""
    if records.empty or "isTariffLine" not in records.columns:
        return records
    is_line = records["isTariffLine"].astype("boolean").fillna(False).astype(bool)
    if not is_line.any():
        return records
    lines = records[is_line]
    keys = [c for c in ("refYear", "reporterCode", "partnerCode", "flowCode", "cmdCode", "classificationCode")
            if c in lines.columns]  # fmt: skip
    sums = [c for c in ("netWgt", "qty", "primaryValue", "cifvalue", "fobvalue") if c in lines.columns]
    grouped = lines.groupby(keys, sort=False, dropna=False)
    summed = grouped[sums].sum(min_count=1).join(grouped[[c for c in lines.columns if c not in {*keys, *sums}]].first())
    return pd.concat([records[~is_line], summed.reset_index()[lines.columns]], ignore_index=True)


def clean_comtrade_year(
    raw_path: str | Path,
    commodities: Sequence[Mapping[str, Any]],
    trade: TradeSettings,
    year: int | None = None,
    tariffline_paths: Sequence[str | Path] = (),
) -> dict[str, pd.DataFrame]:
    """Every table ``clean_trade`` writes, from one raw Comtrade year file (and its tariff lines)."""
    from reeflow.acquire.raw import CLEANING_FIELDS, comtrade_records
    from reeflow.acquire.tariffline import tariffline_records
    from reeflow.clean import quality, reconcile

    records = comtrade_records(raw_path, CLEANING_FIELDS)
    lines = [tariffline_records(path) for path in tariffline_paths]
    lines = [frame for frame in lines if not frame.empty]
    if lines:
        records = sum_tariff_line_rows(pd.concat([records, *lines], ignore_index=True))
        log.info("%s: %d tariff-line record(s) beside the HS records", raw_path, sum(len(f) for f in lines))
    reported, unmapped = reported_from_records(
        records, commodities, str(raw_path), year, trade.impute_missing_weights
    )
    log.info("%s: %d records kept in reported, %d unmapped groups", raw_path, len(reported), len(unmapped))
    table, matches = reconcile.reconcile_with_matches(
        reported,
        hs.commodity_frame(commodities),
        rule=trade.mirror_rule,
        discrepancy_factor=trade.discrepancy_factor,
        cross_code=trade.cross_code,
    )
    return {
        "reported": reported,
        "trade": validate_table(table, TRADE_SCHEMA, f"{raw_path} -> trade"),
        "coverage": quality.coverage(reported),
        "world_check": quality.world_vs_partners(reported),
        "discrepancies": reconcile.discrepancies(table, trade.large_flow_t),
        "unmapped": unmapped,
        "cross_code": matches,
    }


def clean_baci_year(
    raw_path: str | Path,
    commodities: Sequence[Mapping[str, Any]],
    trade: TradeSettings,
) -> dict[str, pd.DataFrame]:
    """The same tables from a BACI extract: BACI is already reconciled, so only trade and coverage."""
    from reeflow.acquire import baci
    from reeflow.clean import quality

    table = typed(baci.clean_baci_year(raw_path, commodities, trade.impute_missing_weights), TRADE_COLUMNS)
    return {
        "reported": empty_table(REPORTED_COLUMNS),
        "trade": validate_table(table, TRADE_SCHEMA, f"{raw_path} -> trade"),
        "coverage": quality.coverage_from_trade(table),
        "world_check": empty_table(WORLD_CHECK_COLUMNS),
        "discrepancies": empty_table(DISCREPANCY_COLUMNS),
        "unmapped": empty_table(UNMAPPED_COLUMNS),
        "cross_code": empty_table(CROSS_CODE_COLUMNS),
    }


def run_clean_trade(
    raw_path: str | Path,
    outputs: Mapping[str, str | Path],
    commodities: Sequence[Mapping[str, Any]],
    trade: TradeSettings,
    source: str = "api",
    year: int | None = None,
    tariffline_paths: Sequence[str | Path] = (),
) -> None:
    """Clean one year and write each table to ``outputs[name]`` (all or nothing is computed first).

    ``trade``: TradeSettings.from_mapping(config trade)."""
    if source == "baci" or str(raw_path).endswith(".parquet"):
        tables = clean_baci_year(raw_path, commodities, trade)
    else:
        tables = clean_comtrade_year(raw_path, commodities, trade, year, tariffline_paths)
    missing = [name for name in tables if name not in outputs]
    if missing:
        raise ReeflowError(f"clean_trade: no output path for table(s) {missing}; check workflow/rules/clean.smk")
    for name, table in tables.items():
        write_parquet_atomic(table, outputs[name])
    if tables["coverage"].empty:
        log.warning("%s: no record maps to the commodity table: check the raw file and the year", raw_path)
