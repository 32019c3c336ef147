"""Figure: BACI against Comtrade, world totals per year and every country's exports and imports."""

from reeflow.io import setup_logging
from reeflow.report.source_plot import render_source_comparison


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_source_comparison(smk.input.countries, smk.output.png, smk.output.svg, smk.params.source)


main(snakemake)  # noqa: F821
