"""Config defaults live once, in the schema: validation fills them (nested ones too), the library's typed
settings are built from the filled config and refuse a section that lacks a key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.utils import validate

from reeflow.io import ReeflowError
from reeflow.settings import (
    ClientSettings,
    ComtradeScope,
    EndUseRangeSettings,
    MfaSettings,
    ProductionSettings,
    SensitivitySettings,
    SensitivitySpace,
    TarifflineScope,
    TradeSettings,
    setting_keys,
)

SCHEMA = "workflow/schemas/config.schema.yaml"


def minimal_config(repo_root: Path) -> dict[str, Any]:
    """config/config.yaml without every key the schema does not require (all the optional ones)."""
    full = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    return {
        "years": full["years"],
        "commodities": full["commodities"],
        "comtrade": {"source": full["comtrade"]["source"]},
        "usgs": {"source": full["usgs"]["source"]},
    }


def filled(repo_root: Path) -> dict[str, Any]:
    config = minimal_config(repo_root)
    validate(config, str(repo_root / SCHEMA))
    return config


def defaults_missing(schema: dict[str, Any], node: Any, where: str = "") -> list[str]:
    """Config keys whose schema has a default but that validation left unset (walks nested objects)."""
    missing: list[str] = []
    if not isinstance(node, dict):
        return missing
    for key, sub in schema.get("properties", {}).items():
        path = f"{where}.{key}" if where else key
        if "default" in sub and key not in node:
            missing.append(path)
        if key in node:
            missing += defaults_missing(sub, node[key], path)
    return missing


def rule_params(config: dict[str, Any]) -> dict[str, Any]:
    """The params the rules pass to the scripts, built as workflow/rules/*.smk build them (keyless)."""
    ct, tl = config["comtrade"], config["comtrade"]["tariffline"]
    client = {key: ct[key] for key in ("base_url", "max_tries", "backoff_seconds", "max_backoff_seconds",
                                       "timeout_seconds", "pause_seconds", "max_answer_mb")}  # fmt: skip
    client.update(keyed=False, max_records=ct["max_records_keyless"])
    return {
        "comtrade": {"source": ct["source"], "reporters": ct["keyless_reporters"], "flows": ct["flows"],
                     "cmd_codes": ["2846"], "allow_missing_years": ct["allow_missing_years"], **client},
        "tariffline": {"source": "api", "reporters": tl["reporters"], "hs6": tl["hs6"], "flows": tl["flows"],
                       **client},
        "space": {
            "yields": config["mfa"]["yields"],
            "trade": {k: config["trade"][k] for k in ("mirror_rule", "impute_missing_weights")},
            "sensitivity": {k: config["sensitivity"][k]
                            for k in ("yield_range", "mirror_rules", "vary_imputation", "p_include_imputed")},
        },
    }  # fmt: skip


def test_validation_fills_every_schema_default_including_nested_ones(repo_root: Path) -> None:
    config = filled(repo_root)
    schema = yaml.safe_load((repo_root / SCHEMA).read_text())
    assert defaults_missing(schema, config) == []
    # inside objects that are themselves only present through `default: {}`
    assert config["mfa"]["yields"] == {"separation": 0.95, "metal": 0.80, "intermediate": 0.90, "final": 0.95}
    assert config["comtrade"]["tariffline"]["enabled"] is True
    assert config["comtrade"]["tariffline"]["hs6"] == ["253090", "261220", "2846", "280530"]
    assert config["trade"]["mirror_rule"] == "exporter_first"
    assert config["baci"]["block_size_mb"] == 16 and config["end_uses"]["draws"] == 200
    assert "source" not in config["comtrade"]["tariffline"]  # no default on purpose: follows comtrade.source


def test_settings_build_from_the_filled_minimal_config(repo_root: Path) -> None:
    config = filled(repo_root)
    params = rule_params(config)
    trade = TradeSettings.from_mapping(config["trade"])
    assert trade == TradeSettings("exporter_first", 2.0, True, 100.0, ())
    assert ProductionSettings.from_mapping(config["production"]).gap_fill == "interpolate_then_residual"
    mfa = MfaSettings.from_mapping({key: config["mfa"][key] for key in setting_keys(MfaSettings)})
    assert mfa.negative_consumption == "clip_and_report" and mfa.top_partners == 5 and mfa.disruption_links == ()
    assert EndUseRangeSettings.from_mapping(config["end_uses"]) == EndUseRangeSettings(200, 0.2)
    assert SensitivitySettings.from_mapping(config["sensitivity"]).p_include_imputed == 0.5
    space = SensitivitySpace.from_mapping(params["space"])
    assert space.central_rule == "exporter_first" and len(space.sensitivity.mirror_rules) == 4
    scope = ComtradeScope.from_mapping(params["comtrade"])
    assert scope.reporters == ("USA", "CHN") and scope.client.max_records == 500 and scope.client.max_tries == 6
    tariffline = TarifflineScope.from_mapping(params["tariffline"])
    assert tariffline.client is not None and tariffline.files == ()


def test_shipped_config_builds_the_same_settings_as_the_schema_defaults_where_it_repeats_them(
    repo_root: Path,
) -> None:
    """config.yaml may restate a default; it must not contradict the schema where it means to repeat it."""
    shipped = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    validate(shipped, str(repo_root / SCHEMA))
    defaults = filled(repo_root)
    assert TradeSettings.from_mapping(shipped["trade"]).mirror_rule == defaults["trade"]["mirror_rule"]
    assert shipped["mfa"]["yields"] == defaults["mfa"]["yields"]
    assert ClientSettings.from_mapping(rule_params(shipped)["comtrade"]) == ClientSettings.from_mapping(
        rule_params(defaults)["comtrade"]
    )


FULL_SECTIONS: list[tuple[type, dict[str, Any], str]] = [
    (TradeSettings, {"mirror_rule": "max", "discrepancy_factor": 2.0, "impute_missing_weights": True,
                     "large_flow_t": 100.0, "cross_code": []}, "trade"),
    (ProductionSettings, {"edition_priority": "latest", "gap_fill": "none", "world_check_tolerance": 0.05},
     "production"),
    (MfaSettings, {"yields": {"separation": 0.9}, "negative_consumption": "keep", "balance_tolerance": 1e-6,
                   "disruption_links": [], "disruption_exporters": [], "top_partners": 5}, "mfa"),
    (EndUseRangeSettings, {"draws": 10, "lifetime_range": 0.2}, "end_uses"),
    (SensitivitySettings, {"yield_range": 0.1, "mirror_rules": ["max"], "vary_imputation": True,
                           "p_include_imputed": 0.5}, "sensitivity"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "section", "name", "key"),
    [(cls, section, name, key) for cls, section, name in FULL_SECTIONS for key in section],
)
def test_a_section_missing_a_key_is_refused_naming_the_config_key(
    cls: type, section: dict[str, Any], name: str, key: str
) -> None:
    cls.from_mapping(section)  # complete: builds
    partial = {k: v for k, v in section.items() if k != key}
    with pytest.raises(ReeflowError, match=rf"config {name}\.{key}: missing; the schema .* should have filled it"):
        cls.from_mapping(partial)


def test_a_scope_missing_a_client_key_is_refused() -> None:
    scope = {"source": "api", "reporters": "all", "flows": ["M"], "cmd_codes": ["2846"], "allow_missing_years": False,
             "base_url": "http://127.0.0.1:9", "keyed": False, "max_records": 500, "max_tries": 3,
             "backoff_seconds": 0.0, "max_backoff_seconds": 0.0, "timeout_seconds": 5, "max_answer_mb": 1}  # fmt: skip
    with pytest.raises(ReeflowError, match=r"config comtrade\.pause_seconds: missing"):
        ComtradeScope.from_mapping(scope)
    with pytest.raises(ReeflowError, match=r"config comtrade\.tariffline\.hs6: missing"):
        TarifflineScope.from_mapping({"source": "none", "reporters": [], "flows": []})
    with pytest.raises(ReeflowError, match="expected a mapping"):
        TradeSettings.from_mapping(None)  # type: ignore[arg-type]


def test_rules_read_the_validated_config_without_repeating_defaults(repo_root: Path) -> None:
    """No `.get("key", default)` on config in workflow/rules: the schema holds every default."""
    pattern = re.compile(r"\.get\(\s*[\"'][^\"']+[\"']\s*,")
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted((repo_root / "workflow" / "rules").glob("*.smk"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and "os.environ" not in line
    ]
    assert offending == []
