"""Figure: data quality, reporter coverage and mirror discrepancies."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_quality


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_quality(
        smk.input.coverage,
        smk.input.discrepancies,
        smk.output.png,
        smk.output.svg,
        smk.params.source,
        smk.params.factor,
    )


main(snakemake)  # noqa: F821
