"""Dynamic in-use stocks and end-of-life flows of final products per country and year."""

from reeflow.io import setup_logging
from reeflow.stocks import run_stocks


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    run_stocks(
        inflow_paths=list(smk.input.inflows),
        output=smk.output.stocks,
        lifetimes=dict(smk.params.lifetimes),
        years=list(smk.params.years),
        initial=smk.params.initial_stock,
    )


main(snakemake)  # noqa: F821
