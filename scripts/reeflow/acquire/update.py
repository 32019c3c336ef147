"""`make update`: ask each source what it revised since the cached copy, refresh only that, and say
what the refresh changed.

Comtrade (HS and tariff lines). One call to the data-availability endpoint (getDA / getDATariffline)
gives, per reporter and period, the date Comtrade last released the dataset and its checksum. Each
raw year file stored those at download time (``availability``); a year is revised when a reporter's
release date or checksum differs, or a reporter appeared or vanished. A raw year without that
record (an older download, or the availability call failed then) is revised when a reporter was
released after the year was downloaded. Only revised years are downloaded again, each into a
staging file; only when every revised year has arrived are they renamed over the cached ones, so a
server failing half-way leaves the cache exactly as it was. A refetched year whose records are the
same (a revision of reporters or codes outside the scope) is not rewritten: its new availability is
kept in ``availability_checked.json`` beside the year files, so it is not fetched again next time.
Renaming a changed year changes its content, and the normal run then reruns that year's jobs and the
cross-year tables (Snakemake's rerun triggers), nothing else.

BACI and USGS cannot say what changed inside a release: for a downloaded BACI release and each USGS
URL, a HEAD request tells whether the file at the configured address changed since the download
(Last-Modified after the download time, or another length); this is reported, not refetched (a new
BACI release or MCS edition is a new config entry: baci.version, usgs.urls).

What changed is written to ``results/updates/``: ``last_check.json`` (every check, even one that
found nothing), and for a refresh ``refresh/``: the record (``refresh.json``), the records added,
removed and changed per year and reporter (``records.csv``) and the headline table as it was before
(``headline_before.csv``); after the next run, rule update_summary compares the headline with it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from reeflow.acquire import comtrade, tariffline
from reeflow.acquire.raw import comtrade_records, load_raw_year
from reeflow.countries import iso3_from_comtrade
from reeflow.io import ReeflowError, read_json, utc_now, write_csv_atomic, write_json_atomic
from reeflow.schemas import HEADLINE_COLUMNS, UPDATE_HEADLINE_COLUMNS, UPDATE_RECORDS_COLUMNS
from reeflow.settings import ComtradeScope, TarifflineScope

log = logging.getLogger(__name__)

CHECKED_FILE = "availability_checked.json"
STAGING_DIR = ".update"
# What identifies a record, and what a revision may change in it (those present in the records).
RECORD_KEYS: tuple[str, ...] = (
    "refYear", "reporterCode", "flowCode", "partnerCode", "partner2Code", "cmdCode", "customsCode", "motCode",
    "classificationCode",
)  # fmt: skip
RECORD_VALUES: tuple[str, ...] = (
    "qtyUnitCode", "qty", "altQtyUnitCode", "altQty", "netWgt", "grossWgt", "cifvalue", "fobvalue", "primaryValue",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Which years a source revised


def _when(text: Any) -> datetime | None:
    """A Comtrade or provenance timestamp as UTC (naive ones are taken as UTC); None if unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _by_dataset(datasets: Iterable[Mapping[str, Any]]) -> dict[tuple[int, str], tuple[str, str]]:
    """(reporter, classification) -> (lastReleased, datasetChecksum)."""
    return {
        (int(d["reporterCode"]), str(d.get("classificationCode"))): (str(d["lastReleased"]),
                                                                    str(d.get("datasetChecksum")))
        for d in datasets
    }


def downloaded_at(raw: Mapping[str, Any]) -> datetime | None:
    """When the cached year was downloaded: its earliest answer."""
    moments = [_when(r.get("retrieved_at")) for r in raw.get("responses", []) if isinstance(r, Mapping)]
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def revised_reporters(
    current: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]] | None,
    since: datetime | None,
) -> dict[int, str]:
    """Reporter code -> why its data of the year count as revised ({} = not revised).

    ``current``: the year's availability now; ``baseline``: as recorded with the cached copy (None
    if none was recorded, then a release after ``since``, the download time, counts)."""
    now = _by_dataset(current)
    if baseline is not None:
        before = _by_dataset(baseline)
        reasons: dict[int, str] = {}
        for key in sorted(set(now) | set(before)):
            reporter = key[0]
            if key not in before:
                reasons.setdefault(reporter, f"new dataset ({key[1]}) released {now[key][0]}")
            elif key not in now:
                reasons.setdefault(reporter, f"dataset ({key[1]}) withdrawn")
            elif now[key] != before[key]:
                reasons.setdefault(
                    reporter, f"released {now[key][0]} (was {before[key][0]}), checksum {now[key][1]} "
                    f"(was {before[key][1]})"
                )
        return reasons
    if since is None:  # nothing to compare with: refetch to be sure
        return {key[0]: "no download time recorded" for key in now}
    return {
        key[0]: f"released {released} after the download ({since:%Y-%m-%dT%H:%M:%SZ})"
        for key, (released, _) in now.items()
        if (moment := _when(released)) is not None and moment > since
    }


# --------------------------------------------------------------------------------------------
# What a refresh changed in the records


def _text(value: Any) -> str:
    """A key or value as comparable text: missing -> "", 842.0 -> "842" (JSON and CSV agree)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _canonical(records: pd.DataFrame) -> dict[tuple[str, ...], str]:
    """Record key -> the sorted values of every record with that key, as one comparable string."""
    if records.empty:
        return {}
    keys = [k for k in RECORD_KEYS if k in records.columns]
    values = [v for v in RECORD_VALUES if v in records.columns]
    numbers = records[values].apply(pd.to_numeric, errors="coerce")
    key_rows = zip(*(records[k].map(_text).tolist() for k in keys))
    value_rows = zip(*(numbers[v].tolist() for v in values)) if values else ((),) * len(records)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for key, row in zip(key_rows, value_rows):
        grouped.setdefault(key, []).append("|".join(_text(v) for v in row))
    return {key: ";".join(sorted(rows)) for key, rows in grouped.items()}


def _reporter_of(key: Any, position: int) -> int:
    return int(float(key[position])) if key[position] else -1


def record_changes(
    before: pd.DataFrame, after: pd.DataFrame, dataset: str, year: int, reason: str = ""
) -> pd.DataFrame:
    """Records added, removed and changed per reporter between two versions of a raw year."""
    old, new = _canonical(before), _canonical(after)
    keys = [k for k in RECORD_KEYS if k in (after.columns if not after.empty else before.columns)]
    position = keys.index("reporterCode") if "reporterCode" in keys else None
    counts: dict[int, dict[str, int]] = {}

    def bump(key: Any, field: str) -> None:
        reporter = _reporter_of(key, position) if position is not None else -1
        row = counts.setdefault(reporter, dict.fromkeys(("records_before", "records_after", "added", "removed",
                                                         "changed"), 0))
        row[field] += 1

    for key in old:
        bump(key, "records_before")
        if key not in new:
            bump(key, "removed")
        elif new[key] != old[key]:
            bump(key, "changed")
    for key in new:
        bump(key, "records_after")
        if key not in old:
            bump(key, "added")
    rows = [
        {"dataset": dataset, "year": int(year), "reporter": iso3_from_comtrade(code)[0] if code >= 0 else "",
         "reporter_code": code, **row, "reason": reason}
        for code, row in sorted(counts.items())
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=UPDATE_RECORDS_COLUMNS)


def has_changes(changes: pd.DataFrame) -> bool:
    return bool(changes[["added", "removed", "changed"]].to_numpy().sum() > 0) if not changes.empty else False


# --------------------------------------------------------------------------------------------
# One Comtrade dataset (HS or tariff lines) cached per year


@dataclass
class Dataset:
    """A Comtrade dataset cached one raw file per year: how to ask what changed and to refetch."""

    name: str
    raw_dir: Path
    client: comtrade.ComtradeClient
    reporters: list[int] | None
    download: Callable[[Path, int], Any]  # (output, year) -> writes the raw year, with its availability
    records: Callable[[Path], pd.DataFrame]


@dataclass
class YearCheck:
    dataset: str
    year: int
    path: Path
    reasons: dict[int, str]
    availability: list[dict[str, Any]]


def _baseline(raw: Mapping[str, Any], checked: Mapping[str, Any], year: int) -> list[dict[str, Any]] | None:
    """The availability to compare with: as last verified by an update, else as downloaded."""
    entry = checked.get(str(year))
    if entry is not None:
        return list(entry["datasets"])
    availability = raw.get("availability")
    if isinstance(availability, Mapping) and not availability.get("error"):
        return list(availability.get("datasets", []))
    return None


def check_dataset(dataset: Dataset, years: Sequence[int]) -> tuple[list[YearCheck], dict[str, Any]]:
    """The cached API years of ``dataset`` and, per year, which reporters Comtrade revised (one call)."""
    cached = {}
    for year in years:
        path = dataset.raw_dir / f"{year}.json"
        if path.is_file():
            raw = load_raw_year(path)
            if raw.get("source") == "api":
                cached[int(year)] = (path, raw)
    if not cached:
        return [], {"dataset": dataset.name, "calls": 0, "note": "no cached API year (local files rerun by checksum)"}
    answer = comtrade.fetch_availability(dataset.client, sorted(cached), dataset.reporters)
    checked = _read_checked(dataset.raw_dir)
    checks = []
    for year, (path, raw) in sorted(cached.items()):
        current = [d for d in answer["datasets"] if str(d["period"]) == str(year)]
        if dataset.reporters is not None:
            current = [d for d in current if int(d["reporterCode"]) in set(dataset.reporters)]
        reasons = revised_reporters(current, _baseline(raw, checked, year), downloaded_at(raw))
        checks.append(YearCheck(dataset.name, year, path, reasons, current))
    return checks, {"dataset": dataset.name, "calls": 1, "url": answer["url"], "retrieved_at": answer["retrieved_at"]}


def _read_checked(raw_dir: Path) -> dict[str, Any]:
    path = raw_dir / CHECKED_FILE
    return dict(read_json(path)) if path.is_file() else {}


def _reason_text(reasons: Mapping[int, str]) -> str:
    return "; ".join(f"{iso3_from_comtrade(code)[0]}: {why}" for code, why in sorted(reasons.items()))


def stage_dataset(dataset: Dataset, checks: Sequence[YearCheck]) -> list[tuple[YearCheck, Path]]:
    """Refetch the revised years of ``dataset`` into its staging folder (the cache is not touched)."""
    staging = dataset.raw_dir / STAGING_DIR
    staged = []
    for check in checks:
        if not check.reasons:
            continue
        staging.mkdir(parents=True, exist_ok=True)
        target = staging / check.path.name
        log.info("%s %s: refetching (%s)", dataset.name, check.year, _reason_text(check.reasons))
        dataset.download(target, check.year)
        staged.append((check, target))
    return staged


def commit_dataset(dataset: Dataset, staged: Sequence[tuple[YearCheck, Path]]) -> tuple[pd.DataFrame, list[int]]:
    """Rename the refetched years whose records changed over the cached ones; keep the others.

    Returns the record changes of every refetched year and the years replaced."""
    frames, replaced, verified = [], [], {}
    for check, target in staged:
        changes = record_changes(dataset.records(check.path), dataset.records(target), dataset.name, check.year,
                                 _reason_text(check.reasons))
        frames.append(changes)
        if has_changes(changes):
            replaced.append((check, target))
        else:
            log.info("%s %s: the same records after the refetch; the cached year is kept as it is",
                     dataset.name, check.year)
            verified[str(check.year)] = {"datasets": check.availability, "checked_at": utc_now()}
    for check, target in replaced:
        os.replace(target, check.path)
    _write_checked(dataset.raw_dir, verified, dropped=[str(c.year) for c, _ in replaced])
    changes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UPDATE_RECORDS_COLUMNS)
    return changes, sorted(c.year for c, _ in replaced)


def update_comtrade(datasets: Sequence[Dataset], years: Sequence[int]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Check every dataset, refetch every revised year, and only then change the cache.

    A failure while asking or refetching (network, server, quota) leaves every cached year and the
    checked-availability records as they were: the staging folders are removed and the error raised."""
    checked = []
    try:
        for dataset in datasets:
            checks, info = check_dataset(dataset, years)
            calls_before = dataset.client.calls
            staged = stage_dataset(dataset, checks)
            info["calls"] = info["calls"] + dataset.client.calls - calls_before
            checked.append((dataset, checks, info, staged))
        findings, frames = [], []
        for dataset, checks, info, staged in checked:  # everything has arrived: now the cache may change
            changes, replaced = commit_dataset(dataset, staged)
            frames.append(changes)
            findings.append({
                **info,
                "years_checked": [c.year for c in checks],
                "years_revised": [c.year for c in checks if c.reasons],
                "years_replaced": replaced,
                "reasons": {str(c.year): _reason_text(c.reasons) for c in checks if c.reasons},
            })
    finally:
        for dataset in datasets:
            shutil.rmtree(dataset.raw_dir / STAGING_DIR, ignore_errors=True)
    frames = [f for f in frames if not f.empty]
    changes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UPDATE_RECORDS_COLUMNS)
    return findings, changes


def _write_checked(raw_dir: Path, verified: Mapping[str, Any], dropped: Sequence[str]) -> None:
    """Record the availability verified without a change; forget it for the years just replaced."""
    if not verified and not dropped:
        return
    checked = _read_checked(raw_dir)
    if not verified and not set(dropped) & set(checked):
        return
    checked.update(verified)
    for year in dropped:
        checked.pop(year, None)
    write_json_atomic(raw_dir / CHECKED_FILE, checked)


def comtrade_dataset(
    raw_dir: Path, scope: ComtradeScope, api_key: str | None, session: requests.Session | None = None
) -> Dataset:
    """The HS dataset of comtrade_scope(), with the client the downloads use."""
    comtrade.check_key_matches_plan(scope.client, api_key)
    client = comtrade.client_from_settings(scope.client, api_key, session=session)
    reporters = scope.reporters if isinstance(scope.reporters, str) else list(scope.reporters)

    def download(output: Path, year: int) -> Any:
        return comtrade.download_comtrade_year(output, year, scope, api_key=api_key, session=client.session,
                                               record_availability=True)

    return Dataset("comtrade", raw_dir, client, comtrade.reporter_codes(reporters), download, comtrade_records)


def tariffline_dataset(
    raw_dir: Path, scope: TarifflineScope, api_key: str | None, session: requests.Session | None = None
) -> Dataset:
    """The tariff-line dataset of tariffline_scope() (source api)."""
    if scope.client is None:
        raise ReeflowError("config comtrade.tariffline: source api needs the client settings of config comtrade")
    comtrade.check_key_matches_plan(scope.client, api_key)
    client = tariffline.client_from_settings(scope.client, api_key, session=session)
    codes = sorted({comtrade.comtrade_code_from_iso3(r) for r in scope.reporters})

    def download(output: Path, year: int) -> Any:
        return tariffline.download_tariffline_year(output, year, scope, api_key=api_key, session=client.session,
                                                   record_availability=True)

    return Dataset("tariffline", raw_dir, client, codes, download, tariffline.tariffline_records)


# --------------------------------------------------------------------------------------------
# BACI and USGS: can the address tell?


def head_changed(url: str, retrieved_at: Any, size: int | None, timeout: float) -> str:
    """What a HEAD request says about the file at ``url`` against the cached copy (a sentence)."""
    try:
        response = requests.head(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as err:
        return f"unknown: HEAD failed ({type(err).__name__})"
    if response.status_code >= 400:
        return f"unknown: HEAD answered HTTP {response.status_code}"
    modified = response.headers.get("Last-Modified")
    length = response.headers.get("Content-Length")
    since = _when(retrieved_at)
    if modified and since is not None:
        try:
            moment = datetime.strptime(modified, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
        except ValueError:
            moment = None
        if moment is not None and moment > since:
            return f"changed: Last-Modified {modified} is after the download ({retrieved_at})"
    if length and size is not None and int(length) != int(size):
        return f"changed: {length} bytes at the address, {size} cached"
    if modified or length:
        return "unchanged"
    return "unknown: the server gives neither Last-Modified nor Content-Length"


def _address(record: Mapping[str, Any], fallback: str) -> str:
    """Where a download record says the file came from: downloads record it as ``source``
    (reeflow.acquire.resumable, the USGS retriever); ``url`` in older records."""
    return str(record.get("source") or record.get("url") or fallback)


def check_usgs(entries: Sequence[Mapping[str, Any]], provenance_dir: Path, timeout: float) -> list[dict[str, Any]]:
    """Per configured USGS URL: whether the file there changed since it was downloaded (report only)."""
    rows = []
    for entry in entries:
        record_path = provenance_dir / entry["kind"] / f"{entry['name']}.json"
        if not entry.get("is_url"):
            finding = "local file: a change reruns by checksum"
        elif not record_path.is_file():
            finding = "not downloaded yet"
        else:
            record = read_json(record_path)
            finding = head_changed(_address(record, entry["source"]), record.get("retrieved_at"), record.get("bytes"),
                                   timeout)  # fmt: skip
        rows.append({"source": "usgs", "item": f"{entry['kind']}/{entry['name']}", "edition": entry.get("edition"),
                     "finding": finding})
    return rows


def check_baci(releases: Sequence[Mapping[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Each BACI release the run reads: whether the file at its address changed (report only; CEPII
    publishes a new version once a year, which the user names in baci.version or baci.releases)."""
    rows = []
    for release in releases:
        item = f"release {release['hs']}"
        record_path = Path(release["record"]) if release.get("record") else None
        if release.get("local") or record_path is None:
            finding = "local archive: a change reruns by checksum; a new release is a new archive in baci.releases"
        elif not record_path.is_file():
            finding = "not downloaded yet"
        else:
            record = read_json(record_path)
            changed = head_changed(_address(record, release.get("url", "")), record.get("retrieved_at"),
                                   record.get("bytes"), timeout)  # fmt: skip
            finding = f"{changed}; a newer release is a new baci.version (CEPII publishes one a year)"
        rows.append({"source": "baci", "item": item, "edition": release.get("version"), "finding": finding})
    return rows


# --------------------------------------------------------------------------------------------
# The record of an update, and the headline before and after


def headline_changes(before: pd.DataFrame | None, after: pd.DataFrame, years_refreshed: Iterable[int]) -> pd.DataFrame:
    """Every headline indicator of every year, before the refresh and after the rerun, long."""
    refreshed = {int(y) for y in years_refreshed}
    indicators = [c for c in HEADLINE_COLUMNS if c != "year"]
    old = before.set_index("year") if before is not None and not before.empty else pd.DataFrame()
    new = after.set_index("year")
    rows = []
    for year in sorted(set(new.index) | set(old.index)):
        for indicator in indicators:
            a = _cell(old, year, indicator)
            b = _cell(new, year, indicator)
            rows.append({"year": int(year), "indicator": indicator, "before": a, "after": b,
                         "changed": _differs(a, b), "year_refreshed": int(year) in refreshed})
    return pd.DataFrame(rows, columns=UPDATE_HEADLINE_COLUMNS)


def _cell(frame: pd.DataFrame, year: Any, column: str) -> Any:
    if frame.empty or year not in frame.index or column not in frame.columns:
        return None
    value = frame.at[year, column]
    return None if pd.isna(value) else value


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    try:
        return abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
        return str(a) != str(b)


def save_refresh(
    updates_dir: Path, headline: Path, record: Mapping[str, Any], changes: pd.DataFrame
) -> None:
    """Write a refresh's record, its record changes and the headline as it was before.

    If the previous refresh has not been followed by a run yet (the headline is older than its
    snapshot), this one is added to it, so that the comparison still starts from the last results."""
    folder = updates_dir / "refresh"
    snapshot = folder / "headline_before.csv"
    pending = snapshot.is_file() and headline.is_file() and snapshot.stat().st_mtime >= headline.stat().st_mtime
    pending = pending and (folder / "refresh.json").is_file() and (folder / "records.csv").is_file()
    refreshes = [record]
    if pending:
        previous = read_json(folder / "refresh.json")
        refreshes = [*previous.get("refreshes", []), record]
        changes = pd.concat([pd.read_csv(folder / "records.csv"), changes], ignore_index=True)
    elif headline.is_file():
        write_csv_atomic(pd.read_csv(headline), snapshot)
    elif snapshot.exists():
        snapshot.unlink()
    years = sorted({int(y) for r in refreshes for y in r.get("years_replaced", [])})
    write_csv_atomic(changes[UPDATE_RECORDS_COLUMNS], folder / "records.csv")
    write_json_atomic(folder / "refresh.json", {"refreshes": refreshes, "years_replaced": years})


def summarise(record: Mapping[str, Any]) -> str:
    """What an update check found, in a few lines for the log and the terminal."""
    lines = []
    for source in record.get("comtrade", []):
        replaced = source.get("years_replaced", [])
        revised = source.get("years_revised", [])
        lines.append(
            f"{source['dataset']}: {source.get('calls', 0)} call(s); years revised by the source: {revised or 'none'}; "
            f"refreshed: {replaced or 'none'}"
        )
    for row in record.get("files", []):
        lines.append(f"{row['source']} {row['item']}: {row['finding']}")
    if not record.get("years_replaced"):
        lines.append("nothing changed: the cache and the results are as they were")
    else:
        lines.append("run the workflow again (make reproduce, or snakemake) to rerun the refreshed years; "
                     "results/updates/ then says what changed")
    return "\n".join(lines)


def run_update(
    datasets: Sequence[Dataset],
    years: Sequence[int],
    files: Sequence[Mapping[str, Any]],
    updates_dir: Path,
    headline: Path,
) -> dict[str, Any]:
    """The whole check: Comtrade datasets refreshed where revised, BACI/USGS findings (``files``)
    reported; the record goes to results/updates/last_check.json, a refresh to results/updates/refresh/."""
    checked_at = utc_now()
    findings, changes = update_comtrade(datasets, years)
    replaced = sorted({y for f in findings for y in f["years_replaced"]})
    record = {
        "checked_at": checked_at,
        "comtrade": findings,
        "files": list(files),
        "calls": sum(f.get("calls", 0) for f in findings),
        "years_replaced": replaced,
    }
    write_json_atomic(updates_dir / "last_check.json", record)
    if replaced:
        save_refresh(updates_dir, headline, record, changes)
    return record


def refresh_summary(refresh_dir: Path, headline: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the last refresh changed, for results/updates/ and the report: the record changes per
    year and reporter, and the headline before the refresh against the headline now (both empty
    when no refresh has been made)."""
    record_path = refresh_dir / "refresh.json"
    if not record_path.is_file():
        return (pd.DataFrame(columns=UPDATE_RECORDS_COLUMNS), pd.DataFrame(columns=UPDATE_HEADLINE_COLUMNS))
    record = read_json(record_path)
    records = pd.read_csv(refresh_dir / "records.csv")
    snapshot = refresh_dir / "headline_before.csv"
    before = pd.read_csv(snapshot) if snapshot.is_file() else None
    changes = headline_changes(before, pd.read_csv(headline), record.get("years_replaced", []))
    return records[UPDATE_RECORDS_COLUMNS], changes
