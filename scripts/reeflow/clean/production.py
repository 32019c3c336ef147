"""Mine production by year and country from every USGS edition, with its quality tables.

Several editions report the same year and country (an MCS estimate, revised a year later, revised
again in the Minerals Yearbook). One value must drive the MFA, so the editions are ranked (see
``edition_rank``) and the others are kept in the revisions table, never thrown away. World totals
are not a country: they go to the world check (sum of countries vs world) and, if asked, to the
``world_residual`` gap fill. Every filled value carries its method in ``flag``.

Edition rule (``edition_priority: latest``; ``earliest`` reverses it): editions rank by when
their numbers were last revised.
  * ``MCSyyyy``: yyyy (published in January of yyyy; estimates for yyyy-1).
  * ``MYByyyy`` and ``DS140-yyyy``: yyyy + 1.5 (yearbook tables for yyyy come out about 18 months
    later and revise the MCS estimates, but precede the MCS of yyyy + 2).
    So MCS2026 > MCS2024 > MYB2022 = 2023.5 > MCS2023 > MCS2022 > DS140-2020 = 2021.5.
  * any other edition with a 4-digit year in its name: the largest such year.
  * an edition without a year: ranks below every dated edition (name it to change that).
Ties are broken by the edition name, so the choice never depends on file order.

Rows that carry only a code (W, NA ...) are not values: a country-year whose editions all give a
code is a gap (its reason names the code), not a zero.

Stages after mining (``stage_rows``): where a statistic exists it is a row of the same table with
its stage, so that the MFA uses it instead of deriving that stage from the one before.
  * US separation: the MCS salient statistic "production: compounds and metals"
    (``production_compounds_metals``), chosen across editions by the same edition rule. MCS does not
    split compounds from metals, so the whole figure is booked at the separation stage (the metal
    stage stays derived from separation consumption).
  * other countries: the cited table ``production.stage_statistics`` (config/stage_statistics.csv),
    one row per year x country x stage; its rows win over an MCS value for the same key. ``basis``
    says what the number is (``reported``, ``estimated``, or ``quota``: China's MIIT smelting and
    separation quota, a cap rather than measured output) and becomes the row's ``flag``.
Gap filling, the world check and the coverage rule below concern mining only.

Coverage: every study year needs mine production from some edition (or an explicit, flagged fill
by ``production.gap_fill``); a year without any is an error, never a silent zero.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from reeflow.acquire.usgs import RECORD_COLUMNS, parse_usgs_file
from reeflow.commodities import STAGES
from reeflow.countries import REST_OF_WORLD, WORLD, is_country
from reeflow.io import ReeflowError, read_json, write_csv_atomic, write_parquet_atomic
from reeflow.settings import ProductionSettings

if TYPE_CHECKING:  # pandera is imported where a table is checked: it costs other jobs 0.35 s
    import pandera.pandas as pa

log = logging.getLogger(__name__)

STAGE = "mining"
STAGE_BASES = ("reported", "estimated", "quota")
FLAGS = ("reported", "estimated", "interpolated", "world_residual", "quota")
STAGE_STATISTIC_COLUMNS = ["year", "country", "stage", "value_t_reo", "low_t_reo", "high_t_reo", "basis",
                           "source", "citation"]  # fmt: skip
US_SEPARATION_STATISTIC = ("Rare Earths", "production_compounds_metals")  # MCS salient: compounds and metals
GAP_FILLS = ("none", "interpolate", "world_residual", "interpolate_then_residual")
PRODUCTION_COLUMNS = ["year", "country", "stage", "value_t_reo", "source", "edition", "flag"]
SALIENT_COLUMNS = ["year", "commodity", "statistic", "value", "code", "unit", "edition", "source"]
REVISION_COLUMNS = ["year", "country", "edition", "value_t_reo", "chosen_edition", "chosen_value"]
GAP_COLUMNS = ["year", "country", "reason", "world_total", "fill_method", "fill_value"]
WORLD_CHECK_COLUMNS = ["year", "world_total", "world_edition", "countries_sum", "n_countries", "difference",
                       "relative_difference", "tolerance", "within_tolerance"]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Editions
# --------------------------------------------------------------------------------------------


def edition_rank(edition: str) -> float:
    """How recent an edition's numbers are (module docstring); -inf when the name has no year."""
    text = str(edition).upper()
    match = re.search(r"(MCS|MYB|DS140)\D{0,3}(\d{4})", text)
    if match:
        year = int(match.group(2))
        return float(year) if match.group(1) == "MCS" else year + 1.5
    years = [int(y) for y in re.findall(r"(?<!\d)(\d{4})(?!\d)", text)]
    return float(max(years)) if years else -math.inf


def order_by_priority(frame: pd.DataFrame, priority: str) -> pd.DataFrame:
    """Rows of each year x country with the preferred edition first."""
    if priority not in ("latest", "earliest"):
        raise ReeflowError(f"config production.edition_priority: {priority!r}; use latest or earliest")
    ranked = frame.assign(_rank=frame["edition"].map(edition_rank))
    ascending = priority == "earliest"
    ranked = ranked.sort_values(
        ["year", "country", "_rank", "edition", "source"],
        ascending=[True, True, ascending, ascending, True],
        kind="mergesort",
    )
    return ranked.drop(columns="_rank")


def choose_editions(records: pd.DataFrame, priority: str = "latest") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One value per year x country (WLD included) and the revisions table of every other edition."""
    production = records[records["table"] == "production"]
    valued = order_by_priority(production[production["value"].notna()], priority)
    first = ~valued.duplicated(["year", "country"], keep="first")
    is_row = valued["country"] == REST_OF_WORLD
    first = (first & ~is_row) | rest_of_world_rows(valued, first, priority)
    chosen = valued[first].reset_index(drop=True)
    others = pd.concat([valued[~first], production[production["value"].isna()]], ignore_index=True)
    revisions = others.merge(
        chosen[["year", "country", "edition", "value"]].rename(
            columns={"edition": "chosen_edition", "value": "chosen_value"}
        ),
        on=["year", "country"],
        how="left",
    ).rename(columns={"value": "value_t_reo"})
    revisions["chosen_edition"] = revisions["chosen_edition"].fillna("")
    revisions = revisions[REVISION_COLUMNS].sort_values(["year", "country", "edition"]).reset_index(drop=True)
    return chosen, revisions


def lead_editions(chosen: pd.DataFrame, priority: str) -> pd.Series:
    """Per year, the edition that supplies most chosen country values (ties: edition priority)."""
    named = chosen[~chosen["country"].isin([REST_OF_WORLD, WORLD])]
    counts = named.groupby(["year", "edition"]).size().rename("n").reset_index()
    counts["rank"] = counts["edition"].map(edition_rank) * (1 if priority == "latest" else -1)
    counts = counts.sort_values(["year", "n", "rank", "edition"], ascending=[True, False, False, True])
    return counts.drop_duplicates("year").set_index("year")["edition"]


def rest_of_world_rows(valued: pd.DataFrame, first: pd.Series, priority: str) -> pd.Series:
    """Mask of the one ROW ("Other countries") row to keep per year: the lead edition's.

    ROW is whatever an edition did not list by name, so it is only meaningful beside that same
    edition's country list: MCS2023's "Other countries" (80 t in 2022) is MCS2024's Malaysia. A
    ROW row from any other edition goes to the revisions table instead of being counted twice."""
    lead = lead_editions(valued[first], priority)
    candidates = (valued["country"] == REST_OF_WORLD) & (valued["edition"] == valued["year"].map(lead))
    repeated = valued[candidates].duplicated(["year"], keep="first").reindex(valued.index, fill_value=False)
    return candidates & ~repeated


# --------------------------------------------------------------------------------------------
# World check, gaps and their fills
# --------------------------------------------------------------------------------------------


def split_world(chosen: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    is_world = chosen["country"] == WORLD
    return chosen[~is_world].reset_index(drop=True), chosen[is_world].reset_index(drop=True)


def world_check(countries: pd.DataFrame, world: pd.DataFrame, years: Sequence[int], tolerance: float) -> pd.DataFrame:
    """Per year, the sum of the chosen country values against the chosen world total.

    World totals are rounded and editions mix, so a small difference is expected; a large one
    means a missing country (or a gap to fill) and is what ``within_tolerance`` flags."""
    sums = countries.groupby("year")["value"].agg(["sum", "count"])
    totals = world.set_index("year")[["value", "edition"]]
    rows = []
    for year in years:
        total = float(totals.at[year, "value"]) if year in totals.index else math.nan
        has_countries = year in sums.index
        summed = float(sums.at[year, "sum"]) if has_countries else 0.0
        difference = summed - total
        relative = difference / total if total else math.nan
        rows.append({
            "year": year, "world_total": total,
            "world_edition": str(totals.at[year, "edition"]) if year in totals.index else "",
            "countries_sum": summed, "n_countries": int(sums.at[year, "count"]) if has_countries else 0,
            "difference": difference, "relative_difference": relative, "tolerance": tolerance,
            "within_tolerance": bool(abs(relative) <= tolerance) if not math.isnan(relative) else False,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=WORLD_CHECK_COLUMNS)


def find_gaps(countries: pd.DataFrame, coded: pd.DataFrame, world: pd.DataFrame, years: Sequence[int]) -> pd.DataFrame:
    """Every year x country of the study's country list without a value.

    The country list is every real country that has a value in some study year (groups such as
    ROW and CIS are not expected every year, so their absence is not a gap)."""
    in_years = countries[countries["year"].isin(years)]
    universe = sorted(c for c in in_years["country"].unique() if is_country(c))
    have = set(zip(in_years["year"], in_years["country"]))
    # A year "has country-level data" when one edition lists several countries in it; DS140's
    # US-only series does not make 2016-2017 covered.
    named = in_years[in_years["country"].map(is_country)]
    per_edition = named.groupby(["year", "edition"]).size()
    years_with_data = {year for (year, _), n in per_edition.items() if n > 1}
    codes = coded.groupby(["year", "country"])["code"].agg(lambda c: "/".join(sorted(set(c))))
    totals = world.set_index("year")["value"]
    rows = []
    for year in years:
        for country in universe:
            if (year, country) in have:
                continue
            if (year, country) in codes.index:
                reason = f"only a code ({codes[(year, country)]}) in every edition"
            elif year not in years_with_data:
                reason = "no country-level data for this year"
            else:
                reason = "not listed for this year"
            rows.append({"year": year, "country": country, "reason": reason,
                         "world_total": float(totals[year]) if year in totals.index else math.nan,
                         "fill_method": "", "fill_value": math.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def interpolate_gaps(countries: pd.DataFrame, gaps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Linear between the country's nearest years with a value on both sides; no extrapolation."""
    filled_rows = []
    gaps = gaps.copy()
    by_country = {c: g.sort_values("year") for c, g in countries.groupby("country")}
    for at, gap in gaps.iterrows():
        known = by_country.get(gap["country"])
        if known is None:
            continue
        before = known[known["year"] < gap["year"]].tail(1)
        after = known[known["year"] > gap["year"]].head(1)
        if before.empty or after.empty:
            continue
        y0, v0 = int(before["year"].iloc[0]), float(before["value"].iloc[0])
        y1, v1 = int(after["year"].iloc[0]), float(after["value"].iloc[0])
        value = v0 + (v1 - v0) * (gap["year"] - y0) / (y1 - y0)
        gaps.loc[at, ["fill_method", "fill_value"]] = ["interpolated", value]
        filled_rows.append({
            "year": int(gap["year"]), "country": gap["country"], "value": value, "estimated": True,
            "edition": f"{before['edition'].iloc[0]}/{after['edition'].iloc[0]}",
            "source": f"linear interpolation between {y0} and {y1}", "flag": "interpolated",
        })  # fmt: skip
    return pd.DataFrame(filled_rows), gaps


def world_residual_gaps(
    countries: pd.DataFrame, world: pd.DataFrame, gaps: pd.DataFrame, tolerance: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """In a year with gaps, what the world total leaves after the listed countries goes to ROW.

    Only where the residual exceeds ``tolerance`` x world total (below it, the difference is the
    rounding of the world total, not missing production) and no source lists a ROW ("Other
    countries") value for that year, so that a reported line is never overwritten."""
    filled_rows = []
    gaps = gaps.copy()
    totals = world.set_index("year")
    for year in sorted(gaps["year"].unique()):
        if year not in totals.index:
            continue
        listed = countries[countries["year"] == year]
        if (listed["country"] == REST_OF_WORLD).any():
            continue
        residual = float(totals.at[year, "value"]) - float(listed["value"].sum())
        if residual <= 0 or residual <= tolerance * float(totals.at[year, "value"]):
            continue
        edition = str(totals.at[year, "edition"])
        filled_rows.append({
            "year": int(year), "country": REST_OF_WORLD, "value": residual, "estimated": True,
            "edition": edition, "source": f"world total ({edition}) minus listed countries",
            "flag": "world_residual",
        })  # fmt: skip
        gaps.loc[gaps["year"] == year, ["fill_method", "fill_value"]] = ["world_residual", residual]
    return pd.DataFrame(filled_rows), gaps


def interpolate_then_residual(
    countries: pd.DataFrame, world: pd.DataFrame, gaps: pd.DataFrame, years: Sequence[int], tolerance: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interpolate the countries known on both sides of a gap, then give what the world total still
    leaves to ROW: the large producers keep their trend, and the year's total stays right."""
    interpolated, gaps = interpolate_gaps(countries, gaps)
    known = pd.concat([countries, interpolated], ignore_index=True) if not interpolated.empty else countries
    residual, after = world_residual_gaps(known[known["year"].isin(years)], world, gaps, tolerance)
    still_open = gaps["fill_method"].fillna("").astype(str).eq("")
    gaps = gaps.copy()
    gaps.loc[still_open, ["fill_method", "fill_value"]] = after.loc[still_open, ["fill_method", "fill_value"]]
    parts = [f for f in (interpolated, residual) if not f.empty]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), gaps


# --------------------------------------------------------------------------------------------
# Statistics of the stages after mining
# --------------------------------------------------------------------------------------------


def _known_iso3(code: str) -> bool:
    import pycountry

    return (
        pycountry.countries.get(alpha_3=code) is not None
        or pycountry.historic_countries.get(alpha_3=code) is not None
    )


def load_stage_statistics(path: str | Path) -> pd.DataFrame:
    """The cited stage-statistics table (module docstring), checked row by row.

    Every problem is reported at once, each naming the file, the row (as a spreadsheet shows it:
    header = row 1), the column and the fix."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#")
    except FileNotFoundError as err:
        raise ReeflowError(
            f"{path}: stage-statistics table not found; create it or set config "
            "production.stage_statistics to '' to use derived production at every stage after mining"
        ) from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ReeflowError(f"{path}: cannot read the stage-statistics table as CSV ({err})") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    required = ["year", "country", "stage", "value_t_reo", "basis", "source", "citation"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReeflowError(
            f"{path}: missing column(s) {missing}; the header must be {','.join(STAGE_STATISTIC_COLUMNS)}"
        )
    for column in STAGE_STATISTIC_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    frame = frame[STAGE_STATISTIC_COLUMNS].apply(lambda c: c.str.strip())
    problems: list[str] = []
    rows = []
    seen: dict[tuple[int, str, str], int] = {}
    for at, record in enumerate(frame.to_dict("records")):
        line = at + 2  # the header is line 1

        def bad(column: str, message: str, line: int = line) -> None:
            problems.append(f"row {line}, column {column}: {message}")

        year = int(record["year"]) if re.fullmatch(r"\d{4}", record["year"]) else None
        if year is None:
            bad("year", f"{record['year']!r} is not a 4-digit year")
        country = record["country"].upper()
        if not re.fullmatch(r"[A-Z]{3}", country) or not _known_iso3(country):
            bad("country", f"{record['country']!r} is not an ISO 3166 alpha-3 code (e.g. CHN, MYS, USA)")
        stage = record["stage"].lower()
        if stage == STAGE:
            bad("stage", "mining is not allowed here: mine production comes from the USGS editions (config usgs)")
        elif stage not in STAGES:
            bad("stage", f"unknown stage {record['stage']!r}; use one of {', '.join(STAGES[1:])}")
        values = {}
        for column in ("value_t_reo", "low_t_reo", "high_t_reo"):
            text = record[column].replace(",", "")
            if not text:
                if column == "value_t_reo":
                    bad(column, "missing; give the statistic in t REO (or drop the row: no number, no row)")
                values[column] = math.nan
                continue
            try:
                values[column] = float(text)
            except ValueError:
                bad(column, f"{record[column]!r} is not a number")
                values[column] = math.nan
                continue
            if not math.isfinite(values[column]) or values[column] < 0:
                bad(column, f"{record[column]!r} must be a number >= 0")
        value, low, high = values["value_t_reo"], values["low_t_reo"], values["high_t_reo"]
        if (math.isfinite(low) and math.isfinite(value) and low > value) or (
            math.isfinite(high) and math.isfinite(value) and high < value
        ):
            bad("low_t_reo/high_t_reo", f"need low <= value <= high (got {low}, {value}, {high})")
        basis = record["basis"].lower()
        if basis not in STAGE_BASES:
            bad("basis", f"{record['basis']!r}; use one of {', '.join(STAGE_BASES)}")
        for column in ("source", "citation"):
            if not record[column]:
                bad(column, "empty; every statistic needs its source and a citation (URL or reference)")
        if year is not None:
            key = (year, country, stage)
            if key in seen:
                bad("year/country/stage", f"duplicate of row {seen[key]} ({year} {country} {stage}); keep one")
            else:
                seen[key] = line
        rows.append({"year": year or 0, "country": country, "stage": stage, "value_t_reo": value,
                     "low_t_reo": low, "high_t_reo": high, "basis": basis, "source": record["source"],
                     "citation": record["citation"]})  # fmt: skip
    if problems:
        raise ReeflowError(
            f"{path}: {len(problems)} problem(s) in the stage-statistics table "
            "(config production.stage_statistics):\n  " + "\n  ".join(problems[:20])
        )
    out = pd.DataFrame(rows, columns=STAGE_STATISTIC_COLUMNS)
    return out.astype({"year": "int64", "value_t_reo": "float64", "low_t_reo": "float64", "high_t_reo": "float64"})


def us_separation_statistics(records: pd.DataFrame, priority: str = "latest") -> pd.DataFrame:
    """US production of rare-earth compounds and metals (MCS salient), one edition per year.

    Booked at the separation stage (module docstring). Code-only cells (W, NA) are not values and
    leave the year to the derived production."""
    commodity, statistic = US_SEPARATION_STATISTIC
    salient = records[
        (records["table"] == "salient")
        & (records["commodity"].astype(str).str.strip() == commodity)
        & (records["statistic"] == statistic)
        & records["value"].notna()
    ]
    if salient.empty:
        return pd.DataFrame(columns=["year", "country", "value", "source", "edition", "flag"])
    chosen = order_by_priority(salient.assign(country="USA"), priority).drop_duplicates("year", keep="first")
    return pd.DataFrame({
        "year": chosen["year"].astype("int64"), "country": "USA", "value": chosen["value"].astype(float),
        "source": chosen["source"].astype(str) + ": US production of compounds and metals (booked at separation)",
        "edition": chosen["edition"].astype(str),
        "flag": chosen["estimated"].astype(bool).map({True: "estimated", False: "reported"}),
    }).reset_index(drop=True)  # fmt: skip


def stage_statistic_rows(
    records: pd.DataFrame, stage_statistics: pd.DataFrame | None, years: Sequence[int], priority: str = "latest"
) -> pd.DataFrame:
    """Production-table rows (PRODUCTION_COLUMNS) of every stage statistic in the study years.

    The cited table wins over the MCS value for the same year x country x stage (logged)."""
    us = us_separation_statistics(records, priority)
    parts = [to_production_table(us.assign(stage="separation"))] if not us.empty else []
    if stage_statistics is not None and not stage_statistics.empty:
        table = stage_statistics
        parts.append(
            pd.DataFrame({
                "year": table["year"].astype("int64"), "country": table["country"].astype(str),
                "stage": table["stage"].astype(str), "value_t_reo": table["value_t_reo"].astype(float),
                "source": table["source"].astype(str) + " (" + table["citation"].astype(str) + ")",
                "edition": "stage_statistics", "flag": table["basis"].astype(str),
            })  # fmt: skip
        )
    if not parts:
        return pd.DataFrame(columns=PRODUCTION_COLUMNS)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["year"].isin(list(years))]
    overridden = rows.duplicated(["year", "country", "stage"], keep="last")
    if overridden.any():
        log.info("stage statistics: the cited table replaces %d MCS value(s): %s", int(overridden.sum()),
                 rows.loc[overridden, ["year", "country", "stage"]].to_dict("records"))  # fmt: skip
    rows = rows[~overridden]
    return rows.sort_values(["year", "country", "stage"]).reset_index(drop=True)[PRODUCTION_COLUMNS]


def check_coverage(production: pd.DataFrame, table: pd.DataFrame, years: Sequence[int], gap_fill: str) -> None:
    """Every study year must appear in some edition's mine production (a value, a code or a world
    total) or be filled (flagged) by ``gap_fill``; otherwise the MFA would see a silent zero.

    A year that editions mention without any country value (only W codes, only a world total) is
    listed in the gaps table here; the MFA refuses it (reeflow.mfa.balance.mining_production_for_year)."""
    covered = set(production["year"].astype(int)) | set(table["year"].astype(int))
    missing = [int(y) for y in years if int(y) not in covered]
    if missing:
        raise ReeflowError(
            f"production: no USGS edition covers year(s) {missing} (no mine production, code or world total)"
            + ("" if gap_fill == "none" else f", and production.gap_fill={gap_fill} could not fill them")
            + "; add an MCS edition that covers them to config usgs, or lower years.end (raise years.start)"
        )


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def production_schema(years: Sequence[int]) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "year": pa.Column("int64", pa.Check.isin(list(years))),
            "country": pa.Column(str, pa.Check.str_matches(r"^[A-Z][A-Z0-9]{2}$")),
            "stage": pa.Column(str, pa.Check.isin(list(STAGES))),
            "value_t_reo": pa.Column("float64", pa.Check.ge(0), nullable=False),
            "source": pa.Column(str),
            "edition": pa.Column(str),
            "flag": pa.Column(str, pa.Check.isin(list(FLAGS))),
        },
        unique=["year", "country", "stage"],
        strict=True,
        ordered=True,
        name="production",
    )


def salient_schema() -> pa.DataFrameSchema:
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "year": pa.Column("int64", pa.Check.in_range(1900, 2100)),
            "commodity": pa.Column(str, pa.Check.str_length(min_value=1)),
            "statistic": pa.Column(str, pa.Check.str_length(min_value=1)),
            "value": pa.Column("float64", nullable=True),
            "code": pa.Column(str),
            "unit": pa.Column(str),
            "edition": pa.Column(str, pa.Check.str_length(min_value=1)),
            "source": pa.Column(str),
        },
        checks=pa.Check(lambda df: df["value"].notna() | (df["code"] != ""), error="value or code present"),
        unique=["year", "commodity", "statistic", "edition", "source"],
        strict=True,
        name="usgs_salient",
    )


def validate(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Pandera, all failures at once, re-raised as a ReeflowError naming table, column and rows."""
    import pandera.pandas as pa

    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        lines = [
            f"column {row['column']!r} check {row['check']!r}: value {row['failure_case']!r} (row {row['index']})"
            for row in cases.head(15).to_dict("records")
        ]
        rows = sorted({int(i) for i in cases["index"].dropna() if str(i).isdigit()})[:10]
        detail = frame.loc[[r for r in rows if r in frame.index]].to_string() if rows else ""
        raise ReeflowError(
            f"table {schema.name}: {len(cases)} failed check(s):\n  "
            + "\n  ".join(lines)
            + (f"\noffending rows:\n{detail}" if detail else "")
            + "\nfix the USGS input (or its edition/kind in config usgs) that produced these rows"
        ) from err


# --------------------------------------------------------------------------------------------
# The whole step
# --------------------------------------------------------------------------------------------


def build_production(
    records: pd.DataFrame,
    years: Sequence[int],
    edition_priority: str = "latest",
    *,
    gap_fill: str,
    world_check_tolerance: float = 0.05,
    stage_statistics: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Parsed USGS records (+ the cited stage statistics) -> production, salient, revisions, gaps,
    world_check tables. Gap fills and the world check concern mining only."""
    if gap_fill not in GAP_FILLS:
        raise ReeflowError(f"config production.gap_fill: {gap_fill!r}; use one of {', '.join(GAP_FILLS)}")
    years = sorted(int(y) for y in years)
    chosen, revisions = choose_editions(records, edition_priority)
    countries, world = split_world(chosen)
    production = records[records["table"] == "production"]
    coded = production[production["value"].isna() & (production["country"] != WORLD)]
    countries = countries.assign(flag=countries["estimated"].map({True: "estimated", False: "reported"}))
    check = world_check(countries[countries["year"].isin(years)], world, years, world_check_tolerance)
    gaps = find_gaps(countries, coded, world, years)
    filled = pd.DataFrame()
    if gap_fill == "interpolate" and not gaps.empty:
        filled, gaps = interpolate_gaps(countries, gaps)
    elif gap_fill == "world_residual" and not gaps.empty:
        in_years = countries[countries["year"].isin(years)]
        filled, gaps = world_residual_gaps(in_years, world, gaps, world_check_tolerance)
    elif gap_fill == "interpolate_then_residual" and not gaps.empty:
        filled, gaps = interpolate_then_residual(countries, world, gaps, years, world_check_tolerance)
    table = pd.concat([countries, filled], ignore_index=True) if not filled.empty else countries
    table = table[table["year"].isin(years)]
    check_coverage(production, table, years, gap_fill)
    stages = stage_statistic_rows(records, stage_statistics, years, edition_priority)
    log.info("production: %d mining rows (%d filled by %s), %d stage statistics, %d gaps, %d revisions",
             len(table), len(filled), gap_fill, len(stages), len(gaps), len(revisions))  # fmt: skip
    production = to_production_table(table)
    if not stages.empty:
        production = pd.concat([production, stages], ignore_index=True)
        production = production.sort_values(["year", "country", "stage"]).reset_index(drop=True)
    return {
        "production": validate(production, production_schema(years)),
        "salient": validate(to_salient_table(records), salient_schema()),
        "revisions": revisions[revisions["year"].isin(years)].reset_index(drop=True),
        "gaps": gaps,
        "world_check": check,
    }


def to_production_table(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "year": frame["year"].astype("int64"), "country": frame["country"].astype(str),
        "stage": frame["stage"].astype(str) if "stage" in frame.columns else STAGE,
        "value_t_reo": frame["value"].astype("float64"), "source": frame["source"].astype(str),
        "edition": frame["edition"].astype(str), "flag": frame["flag"].astype(str),
    })  # fmt: skip
    return out.sort_values(["year", "country", "stage"]).reset_index(drop=True)


def to_salient_table(records: pd.DataFrame) -> pd.DataFrame:
    salient = records[records["table"] == "salient"]
    out = salient[SALIENT_COLUMNS].astype(
        {
            "year": "int64",
            "value": "float64",
            "commodity": str,
            "statistic": str,
            "code": str,
            "unit": str,
            "edition": str,
            "source": str,
        }  # fmt: skip
    )
    return out.sort_values(["commodity", "statistic", "year", "edition"]).reset_index(drop=True)


def usgs_key(path: str | Path) -> tuple[str, str]:
    """(kind, name) of a raw file resources/raw/usgs/{kind}/{name} or its provenance {name}.json."""
    path = Path(path)
    name = path.name[: -len(".json")] if path.parent.parent.name == "provenance" else path.name
    return path.parent.name, name


def parse_inputs(raw_paths: Sequence[str | Path], provenance_paths: Sequence[str | Path]) -> pd.DataFrame:
    """Parse every raw file with the kind and edition that its provenance record gives."""
    provenance: dict[tuple[str, str], dict[str, Any]] = {}
    for path in provenance_paths:
        record = read_json(path)
        provenance[usgs_key(path)] = record if isinstance(record, dict) else {}
    frames = []
    for path in raw_paths:
        kind, name = usgs_key(path)
        meta = provenance.get((kind, name), {})
        if (kind, name) not in provenance:
            log.warning("%s: no provenance record; edition guessed from the file", path)
        frames.append(parse_usgs_file(path, meta.get("kind", kind), str(meta.get("edition", "") or "")))
    if not frames:
        raise ReeflowError("clean_production: no USGS input; list files or urls in config usgs")
    return pd.concat(frames, ignore_index=True)[RECORD_COLUMNS]


def run_clean_production(
    raw_paths: Sequence[str | Path],
    provenance_paths: Sequence[str | Path],
    outputs: dict[str, str | Path],
    settings: ProductionSettings,
    years: Sequence[int],
    stage_statistics_path: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """The clean_production rule: parse, combine, validate, write five tables atomically.

    ``settings``: ProductionSettings.from_mapping(config production); ``stage_statistics_path``: the
    cited stage-statistics CSV (None: none used)."""
    records = parse_inputs(raw_paths, provenance_paths)
    stage_statistics = load_stage_statistics(stage_statistics_path) if stage_statistics_path else None
    tables = build_production(
        records,
        years,
        edition_priority=settings.edition_priority,
        gap_fill=settings.gap_fill,
        world_check_tolerance=settings.world_check_tolerance,
        stage_statistics=stage_statistics,
    )
    write_parquet_atomic(tables["production"], outputs["production"])
    write_parquet_atomic(tables["salient"], outputs["salient"])
    for name in ("revisions", "gaps", "world_check"):
        write_csv_atomic(tables[name], outputs[name])
    failing = tables["world_check"].loc[~tables["world_check"]["within_tolerance"], "year"].tolist()
    if failing:
        log.warning("world check outside tolerance (or no world total) in years %s", failing)
    return tables
