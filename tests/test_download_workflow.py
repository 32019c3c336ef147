"""The real snakemake CLI runs `download` against a local Comtrade stand-in (SYNTHETIC answers), and on
the real recorded files; the subscription key must end up in no file the run leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from comtrade_server import Answer, ComtradeServer, filtering_handler, synthetic_record
from reeflow.acquire.raw import comtrade_records

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
SECRET = "FAKE-SECRET-wf-0b7e44c1-never-stored"
YEARS = (2021, 2022)


def write_config(work: Path, comtrade: dict[str, Any]) -> Path:
    """A config for `download` only: no USGS input, two years, commodities by absolute path."""
    config = {
        "years": {"start": YEARS[0], "end": YEARS[-1]},
        "commodities": str(ROOT / "config" / "commodities.csv"),
        "comtrade": comtrade,
        "usgs": {"source": "files", "files": []},
    }
    path = work / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def run_download(work: Path, config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "snakemake", "--cores", "2", "download", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(work), "--configfile", str(config),
    ]  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"}
    full_env.update(env)
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300, env=full_env)


def files_holding(folder: Path, text: str) -> list[Path]:
    needle = text.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_api_download_retries_and_never_stores_the_key(tmp_path: Path) -> None:
    pool = [
        synthetic_record(year, reporter, flow, code, partner=partner)
        for year in YEARS for reporter in (842, 156) for flow in ("M", "X")
        for code in ("2846", "850511") for partner in (0, 392)
    ]  # fmt: skip
    work = tmp_path / "work"
    with ComtradeServer(filtering_handler(pool)) as server:
        server.queue(Answer(status=429, body="Rate limit is exceeded. Try again in 0 seconds."))
        comtrade = {
            "source": "api", "base_url": server.base_url, "reporters": ["USA", "CHN"], "flows": ["M", "X"],
            "max_records_keyed": 1000, "max_tries": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05,
            "timeout_seconds": 10, "pause_seconds": 0.0,
            "tariffline": {"enabled": False},  # the HS requests alone are counted here; tests/test_tariffline.py
        }  # fmt: skip
        run = run_download(work, write_config(work, comtrade), {"COMTRADE_API_KEY": SECRET})
        every = list(server.requests)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    requests = [r for r in every if r.path != "/data/v1/getDa/C/A/HS"]  # the data availability: one per year
    assert len(every) - len(requests) == len(YEARS)
    assert len(requests) == len(YEARS) + 1  # one per year, plus the retried 429
    assert all(r.headers.get("Ocp-Apim-Subscription-Key") == SECRET for r in every)
    assert all(r.path == "/data/v1/get/C/A/HS" for r in requests)
    for year in YEARS:
        raw = work / "resources" / "raw" / "comtrade" / f"{year}.json"
        records = comtrade_records(raw)
        assert len(records) == sum(1 for r in pool if r["refYear"] == year)
        assert json.loads(raw.read_text())["responses"][0]["endpoint"] == "data"
    logs = "".join(p.read_text() for p in (work / "logs").rglob("*.log"))
    assert "Try again in 0 seconds" in logs  # the retry was logged...
    assert (work / ".snakemake" / "metadata").is_dir()  # the job records exist and are searched
    for folder in ("resources", "results", "logs", ".snakemake"):
        if (work / folder).exists():
            assert files_holding(work / folder, SECRET) == [], folder
    assert SECRET not in run.stdout + run.stderr  # ...but the key never was


def test_files_source_on_the_real_exports_completes_download(real_data: Path, tmp_path: Path) -> None:
    folder = real_data / "comtrade"
    comtrade = {
        "source": "files",
        "files": [
            str(folder / "china-imports-2846" / "20*.json"),
            str(folder / "usa-china-2020-2024" / "*.csv"),
        ],
    }
    work = tmp_path / "work"
    run = run_download(work, write_config(work, comtrade), {})
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    for year in YEARS:
        raw = json.loads((work / "resources" / "raw" / "comtrade" / f"{year}.json").read_text())
        assert raw["source"] == "files"
        by_format = {r["format"]: r["count"] for r in raw["responses"]}
        china = json.loads((folder / "china-imports-2846" / f"{year}.json").read_text())
        assert by_format["json"] == china["count"] and by_format["csv"] > 0
