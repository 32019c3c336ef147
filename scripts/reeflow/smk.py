"""What the workflow's .smk files take from the library, in one small module (parsed by every job)."""

from reeflow.acquire.baci import download_url
from reeflow.commodities import cleaning_records, cmd_codes_to_request, load_commodities
from reeflow.report.publish import source_line
from reeflow.schemas import MFA_YEAR_TABLES

__all__ = ["MFA_YEAR_TABLES", "cleaning_records", "cmd_codes_to_request", "download_url", "load_commodities",
           "source_line"]
