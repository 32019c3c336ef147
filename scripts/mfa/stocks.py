"""Dynamic in-use stocks and end-of-life flows by product, per country and year."""

from reeflow.io import setup_logging
from reeflow.mfa.end_uses import run_stocks


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    run_stocks(
        balance_path=smk.input.balance,
        flows_path=smk.input.flows,
        commodities_path=smk.input.commodities,
        end_uses={"shares": smk.input.shares, "products": smk.input.products},
        output=smk.output.stocks,
        lifetimes=dict(smk.params.lifetimes),
        years=list(smk.params.years),
        initial=smk.params.initial_stock,
    )


main(snakemake)  # noqa: F821
