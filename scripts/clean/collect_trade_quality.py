"""Gather the per-year trade quality tables into results/quality/*.csv."""

from reeflow.clean.quality import run_collect_trade_quality
from reeflow.io import setup_logging

TABLES = ("coverage", "world_check", "discrepancies", "unmapped", "cross_code")


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_collect_trade_quality(
        inputs={name: list(getattr(smk.input, name)) for name in TABLES},
        outputs={name: getattr(smk.output, name) for name in TABLES},
        commodities_path=smk.input.commodities,
    )


main(snakemake)  # noqa: F821
