"""Figure: rare-earth trade networks for the configured years."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_network


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_network(
        smk.input.flows,
        smk.input.balance,
        smk.output.png,
        smk.output.svg,
        smk.params.source,
        smk.params.years,
        smk.params.max_nodes,
    )


main(snakemake)  # noqa: F821
