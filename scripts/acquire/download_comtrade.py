"""Download one Comtrade year (or read it from local exports) into resources/raw/comtrade/{year}.json."""

from reeflow.acquire.comtrade import download_comtrade_year
from reeflow.acquire.source import api_key_for
from reeflow.io import setup_logging
from reeflow.settings import ComtradeScope


def main(smk) -> None:
    setup_logging(smk.log[0])
    scope = ComtradeScope.from_mapping(smk.params.scope)
    api_key = api_key_for(scope.client)
    download_comtrade_year(
        smk.output.raw,
        year=int(smk.wildcards.year),
        scope=scope,
        files=list(smk.input.files),
        api_key=api_key,
        record_availability=True,  # for `make update` (reeflow.acquire.update)
    )


main(snakemake)  # noqa: F821
