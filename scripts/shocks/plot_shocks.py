"""Figure: shortfalls by country and scenario over the years, and the stabilisation measure."""

from reeflow.io import setup_logging
from reeflow.report.shock_plots import render_shocks


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    render_shocks(
        smk.input.shocks, smk.input.stabilisation, smk.output.png, smk.output.svg, smk.params.source,
        list(smk.params.countries),
    )


main(snakemake)  # noqa: F821
