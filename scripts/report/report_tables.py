"""Headline and uncertainty tables, contract-checked, into the report folder."""

from reeflow.io import setup_logging
from reeflow.report.publish import publish_table
from reeflow.schemas import HEADLINE_COLUMNS, UNCERTAINTY_COLUMNS


def main(smk) -> None:
    setup_logging(smk.log[0])
    publish_table(smk.input.headline, smk.output.headline, HEADLINE_COLUMNS)
    publish_table(smk.input.uncertainty, smk.output.uncertainty, UNCERTAINTY_COLUMNS)


main(snakemake)  # noqa: F821
