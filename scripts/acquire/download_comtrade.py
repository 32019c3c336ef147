"""Download one Comtrade year (or read it from local exports) into resources/raw/comtrade/{year}.json."""

import os

from reeflow.acquire.comtrade import download_comtrade_year
from reeflow.io import setup_logging
from reeflow.settings import ComtradeScope


def main(smk) -> None:
    setup_logging(smk.log[0])
    api_key = os.environ.get("COMTRADE_API_KEY", "").strip() or None  # read here, never a param
    download_comtrade_year(
        smk.output.raw,
        year=int(smk.wildcards.year),
        scope=ComtradeScope.from_mapping(smk.params.scope),
        files=list(smk.input.files),
        api_key=api_key,
    )


main(snakemake)  # noqa: F821
