"""Figure: in-use stocks and end-of-life flows."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_stocks


def main(smk) -> None:
    setup_logging(smk.log[0])
    render_stocks(smk.input.stocks, smk.output.png, smk.output.svg, smk.params.source)


main(snakemake)  # noqa: F821
