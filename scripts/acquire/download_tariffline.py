"""Download one year of Comtrade tariff lines (or read local files) into resources/raw/tariffline/{year}.json."""

import os

from reeflow.acquire.tariffline import download_tariffline_year
from reeflow.io import setup_logging
from reeflow.settings import TarifflineScope


def main(smk) -> None:
    setup_logging(smk.log[0])
    scope = TarifflineScope.from_mapping(smk.params.scope)
    keyed = scope.client is not None and scope.client.keyed  # a keyless plan (source: preview) runs without it
    api_key = (os.environ.get("COMTRADE_API_KEY", "").strip() or None) if keyed else None  # never a param
    download_tariffline_year(
        smk.output.raw, year=int(smk.wildcards.year), scope=scope, api_key=api_key, record_availability=True
    )


main(snakemake)  # noqa: F821
