"""Which trade source a run uses, and why: chosen by what the user has.

With a Comtrade key the global network comes from Comtrade; without one, from CEPII BACI (free, no
registration, every country's bilateral trade). The keyless Comtrade preview covers only a few
reporters, so it is used only when asked for (``comtrade.source: preview``, or ``api`` without a
key as before). The reason is written to the log and the provenance table; only whether a key is
set enters it, never the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reeflow.io import ReeflowError

if TYPE_CHECKING:
    from reeflow.settings import ClientSettings

CONFIGURED_SOURCES: tuple[str, ...] = ("auto", "api", "preview", "files", "baci")
KEY_VARIABLE = "COMTRADE_API_KEY"


@dataclass(frozen=True)
class TradeSource:
    """The configured ``comtrade.source``, the one used (api = keyed Comtrade API, preview = keyless
    preview, files, baci), whether a key was set, and the reason in words."""

    configured: str
    source: str
    key_present: bool
    reason: str

    def as_params(self) -> dict[str, Any]:
        return {"configured": self.configured, "source": self.source, "key_present": self.key_present,
                "reason": self.reason}  # fmt: skip


def resolve_trade_source(configured: str, key_present: bool) -> TradeSource:
    """The source a run uses for ``comtrade.source: configured`` given whether a key is set."""
    key = f"{KEY_VARIABLE} set" if key_present else f"no {KEY_VARIABLE} set"
    if configured == "auto":
        if key_present:
            return TradeSource(configured, "api", True, f"Comtrade API: {key} (comtrade.source: auto)")
        return TradeSource(configured, "baci", False, f"BACI: {key} (comtrade.source: auto)")
    if configured == "api":
        if key_present:
            return TradeSource(configured, "api", True, f"Comtrade API: comtrade.source: api, {key}")
        return TradeSource(
            configured, "preview", False,
            f"Comtrade keyless preview (a few reporters only): comtrade.source: api, {key}",
        )  # fmt: skip
    if configured == "preview":
        return TradeSource(configured, "preview", key_present,
                           "Comtrade keyless preview (a few reporters only): comtrade.source: preview")  # fmt: skip
    if configured == "files":
        return TradeSource(configured, "files", key_present, "local Comtrade files: comtrade.source: files")
    if configured == "baci":
        return TradeSource(configured, "baci", key_present, "BACI: comtrade.source: baci")
    raise ReeflowError(f"config comtrade.source: {configured!r}; use one of {CONFIGURED_SOURCES}")


def keyed_requests(source: str, key_present: bool) -> bool:
    """Whether this run's Comtrade requests (the tariff lines too, beside BACI or local files) carry
    the key: whenever one is set, except under the keyless preview the user asked for."""
    return key_present and source != "preview"


def api_key_for(client: ClientSettings | None) -> str | None:
    """The key from the environment for a keyed plan, else None: a keyless plan (comtrade.source:
    preview, or no client for local files) runs without it even when one is set. Read by the job
    itself, never passed as a param, so it stays out of logs and Snakemake's metadata."""
    if client is None or not client.keyed:
        return None
    return os.environ.get(KEY_VARIABLE, "").strip() or None
