"""One year's MFA: balance by country and stage, origin tracing, indicators, disruption test; and the
year's US trade under every mirror rule, which the validation gathers (so it never rereads all years)."""

from reeflow.io import setup_logging
from reeflow.mfa.balance import YEAR_OUTPUTS, run_mfa_year
from reeflow.mfa.us_trade import write_us_trade_year
from reeflow.settings import MfaSettings


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    trade, commodities = run_mfa_year(
        trade_path=smk.input.trade,
        production_path=smk.input.production,
        commodities_path=smk.input.commodities,
        year=int(smk.wildcards.year),
        settings=MfaSettings.from_mapping(smk.params.mfa),
        outputs={name: smk.output[name] for name in YEAR_OUTPUTS},
        coverage_path=smk.input.coverage,
        world_check_path=smk.input.world_check,
    )
    write_us_trade_year(trade, commodities, smk.output.us_trade)


main(snakemake)  # noqa: F821
