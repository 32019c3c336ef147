"""Sensitivity of in-use stocks: Monte Carlo over end-use shares and lifetimes."""

from reeflow.io import setup_logging
from reeflow.mfa.end_uses import run_stocks_range
from reeflow.settings import EndUseRangeSettings


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    run_stocks_range(
        balance_path=smk.input.balance,
        flows_path=smk.input.flows,
        commodities_path=smk.input.commodities,
        end_uses={"shares": smk.input.shares, "products": smk.input.products},
        output=smk.output.range,
        lifetimes=dict(smk.params.lifetimes),
        years=list(smk.params.years),
        initial=smk.params.initial_stock,
        seed=int(smk.params.seed),
        settings=EndUseRangeSettings.from_mapping(smk.params.end_uses),
    )


main(snakemake)  # noqa: F821
