"""Figure: one-at-a-time (tornado) and Sobol sensitivity of a headline indicator."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_sensitivity


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_sensitivity(
        smk.input.oat,
        smk.input.sobol,
        smk.output.png,
        smk.output.svg,
        smk.params.source,
        smk.params.indicator,
    )


main(snakemake)  # noqa: F821
