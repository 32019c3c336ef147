"""Stack the per-year draws; write percentiles and the probability that the US is a net exporter."""

from reeflow.io import setup_logging
from reeflow.sensitivity.montecarlo import collect


def main(smk) -> None:
    setup_logging(smk.log[0])
    collect(list(smk.input.draws), smk.output.draws, smk.output.uncertainty, smk.output.probability)


main(snakemake)  # noqa: F821
