"""Figure: US and China net rare-earth trade by stage, with p05-p95 bands."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_net_trade


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_net_trade(
        smk.input.balance, smk.input.uncertainty, smk.output.png, smk.output.svg, smk.params.source
    )


main(snakemake)  # noqa: F821
