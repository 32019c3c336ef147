"""Typed settings for the library, built once from the validated configuration.

Every default lives in workflow/schemas/config.schema.yaml: the Snakefile's ``validate(config,
schema)`` fills them, the rules pass the (filled) config parts they use as params, and the rule
scripts turn those params into the frozen dataclasses below with ``from_mapping``. ``from_mapping``
requires every key: a missing one is a ReeflowError naming the config key (the schema should have
filled it), never a silent default in the library. Keys a section has beyond the class's fields are
ignored (a rule may pass a whole section of which the library uses a part).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

from reeflow.io import ReeflowError

__all__ = [
    "ClientSettings",
    "ComtradeScope",
    "EndUseRangeSettings",
    "MfaSettings",
    "ProductionSettings",
    "SensitivitySettings",
    "SensitivitySpace",
    "ShockSettings",
    "TarifflineScope",
    "TradeSettings",
    "require_keys",
]

SCHEMA = "workflow/schemas/config.schema.yaml"

T = TypeVar("T")


def require_keys(section: Any, name: str, keys: Sequence[str]) -> dict[str, Any]:
    """``{key: section[key]}`` for every key, or a ReeflowError naming the missing config keys."""
    if not isinstance(section, Mapping):
        raise ReeflowError(f"config {name}: expected a mapping of settings, got {type(section).__name__}")
    missing = [key for key in keys if key not in section]
    if missing:
        raise ReeflowError(
            f"config {', '.join(f'{name}.{key}' for key in missing)}: missing; the schema ({SCHEMA}) should "
            "have filled it with its default: build settings only from a config validated against the schema "
            "(snakemake's validate(config, schema) in the Snakefile)"
        )
    return {key: section[key] for key in keys}


def setting_keys(cls: type) -> list[str]:
    """The config keys a settings class is built from (its fields): the rules pass exactly these as
    params, so a change to any other key of the section reruns nothing that does not read it."""
    return [f.name for f in dataclasses.fields(cls)]


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


# Conversions by a field's annotation (these modules use postponed annotations: the types are strings).
_CONVERT: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "tuple[str, ...]": _strings}


def _from_scalars(cls: type[T], section: Mapping[str, Any]) -> T:
    """An instance of a settings class whose fields are all plain values, each converted by its type."""
    values = require_keys(section, cls.SECTION, setting_keys(cls))  # type: ignore[attr-defined]
    return cls(**{f.name: _CONVERT[str(f.type)](values[f.name]) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


class _ScalarSettings:
    """Base of the settings classes whose fields are all plain values: from_mapping converts each
    field by its annotation (_from_scalars), so no class writes its own."""

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> Self:
        return _from_scalars(cls, section)


def _yields(section: Any) -> dict[str, float]:
    """mfa.yields as stage -> float (which stages are needed is checked by balance.yields_vector)."""
    require_keys(section, "mfa.yields", [])
    return {str(stage): float(y) for stage, y in section.items()}


@dataclasses.dataclass(frozen=True)
class TradeSettings:
    """config trade: mirror reconciliation, imputation, discrepancy listing, cross-code rules."""

    SECTION: ClassVar[str] = "trade"

    mirror_rule: str
    discrepancy_factor: float
    impute_missing_weights: bool
    large_flow_t: float
    cross_code: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> TradeSettings:
        values = require_keys(section, cls.SECTION, setting_keys(cls))
        return cls(
            mirror_rule=str(values["mirror_rule"]),
            discrepancy_factor=float(values["discrepancy_factor"]),
            impute_missing_weights=bool(values["impute_missing_weights"]),
            large_flow_t=float(values["large_flow_t"]),
            cross_code=tuple(dict(rule) for rule in values["cross_code"]),
        )


@dataclasses.dataclass(frozen=True)
class ProductionSettings(_ScalarSettings):
    """config production, the parts the library uses (stage_statistics is a rule input)."""

    SECTION: ClassVar[str] = "production"

    edition_priority: str
    gap_fill: str
    world_check_tolerance: float


@dataclasses.dataclass(frozen=True)
class MfaSettings:
    """config mfa, the parts a year's balance uses (lifetimes and initial_stock go to the stock rules).

    ``yields``: stage name -> yield (every stage after mining; reeflow.mfa.balance.yields_vector checks)."""

    SECTION: ClassVar[str] = "mfa"

    yields: Mapping[str, float]
    negative_consumption: str
    balance_tolerance: float
    disruption_links: tuple[tuple[str, str], ...]
    disruption_exporters: tuple[str, ...]
    top_partners: int

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> MfaSettings:
        values = require_keys(section, cls.SECTION, setting_keys(cls))
        return cls(
            yields=_yields(values["yields"]),
            negative_consumption=str(values["negative_consumption"]),
            balance_tolerance=float(values["balance_tolerance"]),
            disruption_links=tuple((str(a), str(b)) for a, b in values["disruption_links"]),
            disruption_exporters=_strings(values["disruption_exporters"]),
            top_partners=int(values["top_partners"]),
        )


@dataclasses.dataclass(frozen=True)
class EndUseRangeSettings(_ScalarSettings):
    """config end_uses, the Monte Carlo of the stocks_range rule."""

    SECTION: ClassVar[str] = "end_uses"

    draws: int
    lifetime_range: float


@dataclasses.dataclass(frozen=True)
class SensitivitySettings(_ScalarSettings):
    """config sensitivity, the parts that define the parameter space."""

    SECTION: ClassVar[str] = "sensitivity"

    yield_range: float
    mirror_rules: tuple[str, ...]
    vary_imputation: bool
    p_include_imputed: float


@dataclasses.dataclass(frozen=True)
class SensitivitySpace:
    """params.space of the sensitivity rules (common.smk sensitivity_space_params): mfa.yields, the
    central trade choices (trade.mirror_rule, trade.impute_missing_weights) and SensitivitySettings."""

    yields: Mapping[str, float]
    central_rule: str
    central_include_imputed: bool
    sensitivity: SensitivitySettings

    @classmethod
    def from_mapping(cls, space: Mapping[str, Any]) -> SensitivitySpace:
        values = require_keys(space, "sensitivity space (params.space)", ["yields", "trade", "sensitivity"])
        trade = require_keys(values["trade"], "trade", ["mirror_rule", "impute_missing_weights"])
        return cls(
            yields=_yields(values["yields"]),
            central_rule=str(trade["mirror_rule"]),
            central_include_imputed=bool(trade["impute_missing_weights"]),
            sensitivity=SensitivitySettings.from_mapping(values["sensitivity"]),
        )


@dataclasses.dataclass(frozen=True)
class ClientSettings(_ScalarSettings):
    """The Comtrade client's endpoint and limits (config comtrade; max_records already chosen for
    keyed or keyless use when the workflow was planned, ``keyed`` records which)."""

    SECTION: ClassVar[str] = "comtrade"

    base_url: str
    keyed: bool
    max_records: int
    max_tries: int
    backoff_seconds: float
    max_backoff_seconds: float
    timeout_seconds: float
    pause_seconds: float
    max_answer_mb: float


@dataclasses.dataclass(frozen=True)
class ComtradeScope:
    """params.scope of download_comtrade (common.smk comtrade_scope()): what to ask Comtrade for, or
    keep from local files. ``reporters`` is "all" or ISO3 codes."""

    SECTION: ClassVar[str] = "comtrade"

    source: str
    reporters: str | tuple[str, ...]
    flows: tuple[str, ...]
    cmd_codes: tuple[str, ...]
    allow_missing_years: bool
    client: ClientSettings

    @classmethod
    def from_mapping(cls, scope: Mapping[str, Any]) -> ComtradeScope:
        keys = ["source", "reporters", "flows", "cmd_codes", "allow_missing_years"]
        values = require_keys(scope, cls.SECTION, keys)
        reporters = values["reporters"]
        return cls(
            source=str(values["source"]),
            reporters=reporters if isinstance(reporters, str) else _strings(reporters),
            flows=_strings(values["flows"]),
            cmd_codes=_strings(values["cmd_codes"]),
            allow_missing_years=bool(values["allow_missing_years"]),
            client=ClientSettings.from_mapping(scope),
        )


@dataclasses.dataclass(frozen=True)
class TarifflineScope:
    """params.scope of download_tariffline (common.smk tariffline_scope()). ``client`` is set for
    source api only, ``files`` (entries already expanded: {path, reporter, flow, partner_codes}) for
    source files only."""

    SECTION: ClassVar[str] = "comtrade.tariffline"

    source: str
    reporters: tuple[str, ...]
    hs6: tuple[str, ...]
    flows: tuple[str, ...]
    client: ClientSettings | None = None
    files: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_mapping(cls, scope: Mapping[str, Any]) -> TarifflineScope:
        values = require_keys(scope, cls.SECTION, ["source", "reporters", "hs6", "flows"])
        source = str(values["source"])
        return cls(
            source=source,
            reporters=_strings(values["reporters"]),
            hs6=_strings(values["hs6"]),
            flows=_strings(values["flows"]),
            client=ClientSettings.from_mapping(scope) if source == "api" else None,
            files=tuple(dict(entry) for entry in require_keys(scope, cls.SECTION, ["files"])["files"])
            if source == "files"
            else (),
        )


@dataclasses.dataclass(frozen=True)
class ShockSettings:
    """config shocks (reeflow.mfa.shocks): the named scenarios (raw items, checked by ShockSpec),
    rerouting (spare-capacity fraction per stage, the sweep of uniform fractions), the single-link
    set, the counterfactuals without the ``pair``'s links, and the Monte Carlo perturbation."""

    SECTION: ClassVar[str] = "shocks"

    scenarios: tuple[Mapping[str, Any], ...]
    spare_fraction: Mapping[str, float]
    spare_sweep: tuple[float, ...]
    max_links: int
    counterfactuals: tuple[str, ...]
    pair: tuple[str, str]
    draws: int
    seed: int
    flow_sigma: float
    production_sigma: float
    spare_range: float

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> ShockSettings:
        values = require_keys(section, cls.SECTION, setting_keys(cls))
        pair = _strings(values["pair"])
        if len(pair) != 2:
            raise ReeflowError(f"config shocks.pair: {list(pair)}; give two ISO3 codes, e.g. [USA, CHN]")
        spare = values["spare_fraction"]
        require_keys(spare, "shocks.spare_fraction", [])  # a mapping stage -> fraction
        return cls(
            scenarios=tuple(dict(item) for item in values["scenarios"]),
            spare_fraction={str(stage): float(v) for stage, v in spare.items()},
            spare_sweep=tuple(float(v) for v in values["spare_sweep"]),
            max_links=int(values["max_links"]),
            counterfactuals=_strings(values["counterfactuals"]),
            pair=(pair[0], pair[1]),
            draws=int(values["draws"]),
            seed=int(values["seed"]),
            flow_sigma=float(values["flow_sigma"]),
            production_sigma=float(values["production_sigma"]),
            spare_range=float(values["spare_range"]),
        )
