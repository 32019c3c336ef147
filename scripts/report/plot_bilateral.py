"""Figure: US-China bilateral rare-earth flows by stage and direction."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_bilateral


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_bilateral(smk.input.flows, smk.output.png, smk.output.svg, smk.params.source)


main(snakemake)  # noqa: F821
