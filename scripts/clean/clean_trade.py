"""Clean one year of trade: countries, HS revisions, tonnes, mirror reconciliation, quality tables."""

from reeflow.clean.declarations import CLEAN_TRADE_TABLES, run_clean_trade
from reeflow.io import setup_logging
from reeflow.report.publish import write_trade_provenance
from reeflow.settings import TradeSettings


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_clean_trade(
        raw_path=smk.input.raw,
        outputs={name: getattr(smk.output, name) for name in CLEAN_TRADE_TABLES},
        commodities=smk.params.commodities,
        trade=TradeSettings.from_mapping(smk.params.trade),
        source=smk.params.source,
        year=int(smk.wildcards.year),
        tariffline_paths=list(smk.input.tariffline),
    )
    write_trade_provenance(smk.input.raw, smk.output.provenance)  # the raw file is parsed only once


main(snakemake)  # noqa: F821
