"""What the workflow's .smk files take from the library, in one small module (parsed by every job)."""

from reeflow.acquire.baci import download_url, plan_releases, releases_from_config
from reeflow.acquire.source import keyed_requests, resolve_trade_source
from reeflow.codedigest import code_digest
from reeflow.commodities import cleaning_records, cmd_codes_to_request, load_commodities
from reeflow.mfa.shocks import shock_figure_scenario
from reeflow.report.publish import source_line
from reeflow.schemas import MFA_YEAR_TABLES
from reeflow.settings import MfaSettings, ShockSettings, setting_keys

__all__ = ["MFA_YEAR_TABLES", "MfaSettings", "ShockSettings", "cleaning_records", "cmd_codes_to_request",
           "code_digest", "download_url", "keyed_requests", "load_commodities", "plan_releases",
           "releases_from_config", "resolve_trade_source", "setting_keys", "shock_figure_scenario", "source_line"]
