"""What the HTML report needs besides figures: data provenance, the figures' source line, and a
headless-browser check that a report actually renders.

Kept free of matplotlib so that the rules files can import ``source_line`` at parse time cheaply.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from reeflow import __version__
from reeflow.io import ReeflowError, atomic_path, read_json, read_table, write_csv_atomic, write_text_atomic

PROVENANCE_COLUMNS: tuple[str, ...] = (
    "dataset", "year", "kind", "location", "edition", "retrieved_at", "status", "count", "sha256", "raw_file",
)  # fmt: skip

TRADE_SOURCE_NAMES = {"api": "UN Comtrade", "files": "UN Comtrade", "preview": "UN Comtrade (keyless preview)",
                      "baci": "CEPII BACI",
                      "baci_vs_comtrade": "CEPII BACI and UN Comtrade"}  # the source-comparison figure

# Query parameters that could carry a credential; redacted even though acquire never stores them.
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:subscription[-_]?key|api[-_]?key|key|token)=)[^&#]*")
_BACI_PROVENANCE_KEY = b"reeflow.provenance"
_BACI_YEAR_MEMBER = re.compile(r"^BACI_HS\d{2}_Y(\d{4})_V[0-9A-Za-z]+\.csv$")  # as reeflow.acquire.baci names it


def source_line(trade_source: str, mirror_rule: str, version: str = __version__) -> str:
    """The line printed under every figure, so a PNG taken out of the report still says where it came
    from and which mirror rule (the main analyst choice behind every trade number) made it."""
    trade = TRADE_SOURCE_NAMES.get(trade_source, trade_source)
    rule = "reconciled by BACI" if trade_source == "baci" else f"mirror rule {mirror_rule}"
    return f"Source: {trade}, USGS; reeflow {version}, {rule}"


def redact(text: str) -> str:
    """Remove anything that looks like a credential from a URL or message before it is published."""
    redacted = _SECRET_PARAMS.sub(r"\1***", str(text))
    key = os.environ.get("COMTRADE_API_KEY", "").strip()
    if key:
        redacted = redacted.replace(key, "***")
    return redacted


# --------------------------------------------------------------------------------------------
# Provenance records


def _row(**values: Any) -> dict[str, Any]:
    row = {col: values.get(col) for col in PROVENANCE_COLUMNS}
    row["location"] = redact(row["location"]) if row["location"] is not None else None
    return row


def comtrade_provenance(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One row per stored response of a raw Comtrade year file; bodies and records are not copied."""
    from reeflow.acquire.raw import load_raw_year

    raw = load_raw_year(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("responses"), list):
        raise ReeflowError(
            f"{path}: no 'responses' list (see docs/data-model.md, raw layer); "
            "delete the file and rerun rule download_comtrade"
        )
    rows = []
    for index, response in enumerate(raw["responses"]):
        if not isinstance(response, dict):
            raise ReeflowError(f"{path}: responses[{index}] is not an object; rerun rule download_comtrade")
        kind = response.get("kind", "")
        rows.append(
            _row(
                dataset="comtrade",
                year=raw.get("year"),
                kind=f"{kind}:{response.get('endpoint', '')}" if kind == "api" else kind,
                location=response.get("url") if kind == "api" else response.get("path"),
                retrieved_at=response.get("retrieved_at"),
                status=response.get("status"),
                count=response.get("count"),
                sha256=response.get("sha256"),
                raw_file=str(path),
            )
        )
    if not rows:
        rows.append(
            _row(
                dataset="comtrade",
                year=raw.get("year"),
                kind="none",
                raw_file=str(path),
                location="(no response stored for this year)",
            )
        )
    return rows


def usgs_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A USGS provenance record ``{source, kind, edition, sha256, retrieved_at, status}`` as one row."""
    record = read_json(path)
    if not isinstance(record, dict) or "sha256" not in record:
        raise ReeflowError(
            f"{path}: not a USGS provenance record (field 'sha256' missing); "
            "delete it and rerun rule retrieve_usgs"
        )
    return _row(
        dataset="usgs",
        kind=record.get("kind"),
        location=record.get("source"),
        edition=record.get("edition"),
        retrieved_at=record.get("retrieved_at"),
        status=record.get("status"),
        sha256=record.get("sha256"),
        raw_file=str(path),
    )


def baci_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A BACI year extract keeps its archive's provenance in the Parquet schema metadata.

    Read in the shape ``reeflow.acquire.baci.extract_year`` writes it: ``archive_sha256`` (or the
    member's ``member_sha256`` for an unpacked folder), ``rows_kept``, ``archive_source``/``archive``,
    and the year from ``member`` (``BACI_HS92_Y{year}_V{version}.csv``) since no ``year`` key is kept."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if _BACI_PROVENANCE_KEY not in metadata:
        raise ReeflowError(f"{path}: no reeflow.provenance in the Parquet metadata; rerun rule extract_baci")
    record = json.loads(metadata[_BACI_PROVENANCE_KEY])
    year = record.get("year")
    if year is None and (match := _BACI_YEAR_MEMBER.match(str(record.get("member") or ""))):
        year = int(match.group(1))
    if record.get("gap"):
        return _row(dataset="baci", year=year, kind="baci:gap", location=f"gap: {record.get('reason')}",
                    count=0, raw_file=str(path))  # fmt: skip
    return _row(
        dataset="baci",
        year=year,
        kind=f"baci:{record['hs']}" if record.get("hs") else "baci",
        location=record.get("archive_source") or record.get("archive"),
        edition=record.get("version"),
        retrieved_at=record.get("retrieved_at"),
        count=record.get("rows_kept"),
        sha256=record.get("archive_sha256") or record.get("member_sha256"),
        raw_file=str(path),
    )


def trade_source_row(trade_source: Mapping[str, Any]) -> dict[str, Any]:
    """The row saying which trade source the run used and why (common.smk TRADE: only whether a key
    was set, never the key)."""
    return _row(dataset="trade_source", kind=trade_source.get("source"), location=trade_source.get("reason"),
                edition=f"comtrade.source: {trade_source.get('configured')}")  # fmt: skip


def collect_provenance(
    raw_trade: Iterable[str | os.PathLike[str]],
    usgs_records: Iterable[str | os.PathLike[str]],
    trade_source: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Every raw input's origin in one table: the trade source and why (first row, when given), trade
    year files (Comtrade JSON or BACI Parquet) and USGS provenance records."""
    rows: list[dict[str, Any]] = [trade_source_row(trade_source)] if trade_source else []
    for path in raw_trade:
        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            rows.extend(comtrade_provenance(path))
        elif suffix == ".csv":  # already extracted per year (rule clean_trade)
            rows.extend(pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records"))
        elif suffix == ".parquet":
            rows.append(baci_provenance(path))
        else:
            raise ReeflowError(f"{path}: unknown raw trade file type '{suffix}'; expected .json, .parquet or .csv")
    rows.extend(usgs_provenance(path) for path in usgs_records)
    table = pd.DataFrame(rows, columns=list(PROVENANCE_COLUMNS)).replace({"": None})
    table["year"] = pd.to_numeric(table["year"], errors="coerce").astype("Int64")
    table["count"] = pd.to_numeric(table["count"], errors="coerce").astype("Int64")
    table["status"] = pd.to_numeric(table["status"], errors="coerce").astype("Int64")
    return table


# --------------------------------------------------------------------------------------------
# Provenance page


_PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef3f8} td.hash{font-family:monospace;font-size:11px}
pre{background:#f6f6f6;padding:1em;font-size:12px;overflow:auto}
"""


def _cell(column: str, value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<td></td>"
    text = html.escape(str(value))
    if column == "location" and re.match(r"^https?://", str(value)):
        return f'<td><a href="{text}">{text}</a></td>'
    css = ' class="hash"' if column == "sha256" else ""
    return f"<td{css}>{text}</td>"


def provenance_html(
    table: pd.DataFrame,
    config: Mapping[str, Any],
    version: str = __version__,
    trade_source: Mapping[str, Any] | None = None,
) -> str:
    """A self-contained page (inline CSS, no scripts) so the report can embed it as is."""
    why = (
        f"<p><b>Trade source: {html.escape(TRADE_SOURCE_NAMES.get(str(trade_source.get('source')), ''))}</b> "
        f"({html.escape(redact(str(trade_source.get('reason'))))}).</p>"
        if trade_source
        else ""
    )
    header = "".join(f"<th>{html.escape(col)}</th>" for col in table.columns)
    body = "\n".join(
        "<tr>" + "".join(_cell(col, row[col]) for col in table.columns) + "</tr>"
        for _, row in table.iterrows()
    )
    summary = (
        table[table["dataset"] != "trade_source"].groupby("dataset", dropna=False)["raw_file"].nunique().to_dict()
        if not table.empty
        else {}
    )
    summary_text = ", ".join(f"{k}: {v} file(s)" for k, v in summary.items()) or "no raw inputs"
    config_text = redact(yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>reeflow {html.escape(version)}: data provenance</title><style>{_PAGE_STYLE}</style></head>"
        f"<body><h1>Data provenance</h1><p>reeflow {html.escape(version)}; {html.escape(summary_text)}. "
        "Each row is one raw answer or file; sha256 identifies its bytes.</p>"
        f"{why}"
        f"<table><thead><tr>{header}</tr></thead><tbody>\n{body}\n</tbody></table>"
        f"<h2>Configuration of this run</h2><pre>{html.escape(config_text)}</pre></body></html>\n"
    )


def _plain(obj: Any) -> Any:
    """Snakemake's config may hold its own mapping/list types; YAML needs plain ones."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def write_trade_provenance(raw_path: str | os.PathLike[str], csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """One year's raw trade provenance, extracted once per year: reading every raw year file (some
    hundred MB at global scale) in the cross-year report rule made a one-year update slow."""
    table = collect_provenance([raw_path], [])
    write_csv_atomic(table, csv_path)
    return table


def write_provenance(
    raw_trade: Sequence[str | os.PathLike[str]],
    usgs_records: Sequence[str | os.PathLike[str]],
    config: Mapping[str, Any],
    csv_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    trade_source: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The provenance table and page; ``trade_source`` (common.smk TRADE) says which source and why."""
    table = collect_provenance(raw_trade, usgs_records, trade_source)
    write_csv_atomic(table, csv_path)
    write_text_atomic(html_path, provenance_html(table, config, trade_source=trade_source))
    return table


# --------------------------------------------------------------------------------------------
# Tables shown in the report


def publish_table(
    source: str | os.PathLike[str], target: str | os.PathLike[str], required: Sequence[str]
) -> pd.DataFrame:
    """Copy a results table into the report folder after checking its contract, so a report never
    shows a table whose columns silently changed."""
    table = read_table(source, required, "report table")
    write_csv_atomic(table, target)
    return table


# --------------------------------------------------------------------------------------------
# Headless browser check


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_html(
    html_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    window: tuple[int, int] = (1400, 1000),
    timeout_seconds: float = 120,
    virtual_time_ms: int = 5000,
    chromium: str | None = None,
) -> Path:
    """Render an HTML file in headless Chromium and save a screenshot.

    A report can be valid HTML and still show nothing (a script error, a missing embedded asset);
    only a browser that runs its scripts tells. The virtual-time budget lets the report's scripts
    finish before the shot. Network and first-run features are off so the check is offline."""
    browser = chromium or find_chromium()
    if browser is None:
        raise ReeflowError(
            "no chromium executable on PATH (tried " + ", ".join(CHROMIUM_NAMES) + "); "
            "install it with `apt-get install -y chromium`"
        )
    source = Path(html_path).resolve()
    if not source.is_file():
        raise ReeflowError(f"{html_path}: no such HTML file to screenshot")
    target = Path(png_path)
    with tempfile.TemporaryDirectory(prefix="reeflow-chromium-") as profile, atomic_path(target) as tmp:
        shot = Path(profile) / "shot.png"
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={virtual_time_ms}", source.as_uri(),
        ]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_seconds, check=False)
        if run.returncode != 0 or not shot.is_file() or shot.stat().st_size == 0:
            raise ReeflowError(
                f"{html_path}: chromium did not write a screenshot (exit {run.returncode}): "
                f"{run.stderr.strip()[-500:]}"
            )
        shutil.copyfile(shot, tmp)
    return target
