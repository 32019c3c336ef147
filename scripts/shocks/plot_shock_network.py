"""Figure: one shock drawn on the trade network (propagated and after rerouting)."""

from reeflow.io import setup_logging
from reeflow.report.shock_plots import render_shock_network


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    render_shock_network(
        smk.input.flows, smk.input.balance, smk.input.shocks, smk.output.png, smk.output.svg, smk.params.source,
        int(smk.params.year), smk.params.scenario, int(smk.params.max_nodes),
    )


main(snakemake)  # noqa: F821
