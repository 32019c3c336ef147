"""Figure: mine origin of the final-stage supply of selected countries."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_origins


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_origins(smk.input.origins, smk.output.png, smk.output.svg, smk.params.source, smk.params.countries)


main(snakemake)  # noqa: F821
