"""Download one year of Comtrade tariff lines (or read local files) into resources/raw/tariffline/{year}.json."""

from reeflow.acquire.source import api_key_for
from reeflow.acquire.tariffline import download_tariffline_year
from reeflow.io import setup_logging
from reeflow.settings import TarifflineScope


def main(smk) -> None:
    setup_logging(smk.log[0])
    scope = TarifflineScope.from_mapping(smk.params.scope)
    api_key = api_key_for(scope.client)
    download_tariffline_year(
        smk.output.raw, year=int(smk.wildcards.year), scope=scope, api_key=api_key, record_availability=True
    )


main(snakemake)  # noqa: F821
