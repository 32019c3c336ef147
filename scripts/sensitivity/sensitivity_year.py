"""Headline indicators of one year for every shared parameter draw."""

from reeflow.io import setup_logging
from reeflow.sensitivity.montecarlo import run_year, space_from_config
from reeflow.settings import SensitivitySpace


def main(smk) -> None:
    setup_logging(smk.log[0])
    space = space_from_config(smk.input.commodities, SensitivitySpace.from_mapping(smk.params.space))
    year = int(smk.wildcards.year)
    run_year(smk.input.trade, smk.input.production, smk.input.samples, space, year, smk.output.draws)


main(snakemake)  # noqa: F821
