"""Validation tables: modelled US trade under every mirror rule, and the central balance, vs USGS."""

from reeflow.io import setup_logging
from reeflow.validate.usgs import run_validation


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    run_validation(
        us_trade_paths=list(smk.input.us_trade),
        salient_path=smk.input.salient,
        balance_path=smk.input.balance,
        production_path=smk.input.production,
        world_check_path=smk.input.world_check,
        central_rule=smk.params.central_rule,
        years=list(smk.params.years),
        validation_path=smk.output.validation,
        fit_path=smk.output.fit,
    )


main(snakemake)  # noqa: F821
