"""Figure: Sankey diagram of global rare-earth flows through the stages, per configured year."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_sankey


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_sankey(
        smk.input.flows,
        smk.input.balance,
        smk.output.png,
        smk.output.svg,
        smk.params.source,
        smk.params.years,
    )


main(snakemake)  # noqa: F821
