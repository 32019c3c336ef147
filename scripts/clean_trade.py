"""Clean one year of trade: countries, HS revisions, tonnes, mirror reconciliation, quality tables."""

from reeflow.io import setup_logging
from reeflow.report import write_trade_provenance
from reeflow.trade import run_clean_trade

TABLES = ("reported", "trade", "coverage", "world_check", "discrepancies", "unmapped")


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_clean_trade(
        raw_path=smk.input.raw,
        outputs={name: getattr(smk.output, name) for name in TABLES},
        commodities=smk.params.commodities,
        trade_params=dict(smk.params.trade),
        source=smk.params.source,
        year=int(smk.wildcards.year),
    )
    write_trade_provenance(smk.input.raw, smk.output.provenance)  # the raw file is parsed only once


main(snakemake)  # noqa: F821
