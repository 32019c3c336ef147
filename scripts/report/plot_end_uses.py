"""Figure: final-stage consumption by end use, and cars and wind inflows against physical proxies."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_end_uses


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    render_end_uses(
        smk.input.stocks, smk.input.plausibility, smk.input.range, smk.output.png, smk.output.svg, smk.params.source
    )


main(snakemake)  # noqa: F821
