"""Configuration: the shipped configs validate; bad ones are refused with the key named."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

SCHEMA = "workflow/schemas/config.schema.yaml"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", ["config/config.yaml", ".test/config/config.yaml"])
def test_shipped_configs_validate_and_get_defaults(repo_root: Path, name: str) -> None:
    config = _load(repo_root / name)
    validate(config, str(repo_root / SCHEMA))
    assert config["trade"]["mirror_rule"] in {"importer_first", "exporter_first", "max", "weighted_mean"}
    assert config["mfa"]["yields"]["metal"] > 0


def test_offline_config_merges_onto_default(repo_root: Path) -> None:
    config = _load(repo_root / "config/config.yaml")
    offline = _load(repo_root / "config/offline.yaml")
    for key, value in offline.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    validate(config, str(repo_root / SCHEMA))
    assert config["comtrade"]["source"] == "files"


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("comtrade", "source"), "ftp", "source"),
        (("trade", "mirror_rule"), "average", "mirror_rule"),
        (("years", "start"), "2000", "start"),
        (("comtrade", "reporters"), ["usa"], "reporters"),
        (("mfa", "yields", "metal"), 1.5, "metal"),
        (("usgs", "files"), [{"kind": "pdf", "path": "x.pdf"}], "kind"),
    ],
)
def test_bad_values_are_refused(repo_root: Path, path: tuple, value: object, fragment: str) -> None:
    config = copy.deepcopy(_load(repo_root / "config/config.yaml"))
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    with pytest.raises(Exception) as info:
        validate(config, str(repo_root / SCHEMA))
    assert fragment in str(info.value)


def test_unknown_key_is_refused(repo_root: Path) -> None:
    config = _load(repo_root / "config/config.yaml")
    config["comtrade"]["api_key"] = "never put it here"
    with pytest.raises(Exception, match="api_key"):
        validate(config, str(repo_root / SCHEMA))


@pytest.mark.workflow
def test_cli_refuses_a_bad_config_before_running_anything(repo_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trade: {mirror_rule: average}\n")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(bad)],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode != 0
    assert "mirror_rule" in run.stdout + run.stderr


@pytest.mark.workflow
@pytest.mark.parametrize(("key", "download", "other"), [("", "download_baci", "download_comtrade"),
                                                        ("FAKE-never-sent", "download_comtrade", "download_baci")])
def test_default_config_plans(repo_root: Path, key: str, download: str, other: str) -> None:
    """`snakemake -n` plans the whole study from the default config (downloads included): the global
    network from BACI without a Comtrade key, from Comtrade with one (comtrade.source: auto)."""
    env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"} | ({"COMTRADE_API_KEY": key} if key else {})
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--quiet", "rules"],
        cwd=repo_root, capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert download in run.stdout + run.stderr and other not in run.stdout + run.stderr
    assert key == "" or key not in run.stdout + run.stderr
