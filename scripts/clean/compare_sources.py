"""Compare BACI's and Comtrade's tonnes per year, code and country pair (results/quality)."""

from reeflow.acquire.baci import compare_sources
from reeflow.io import setup_logging, write_csv_atomic


def main(smk) -> None:
    setup_logging(smk.log[0])
    table = compare_sources(smk.input.baci, smk.input.trade, smk.params.commodities, smk.params.trade)
    write_csv_atomic(table, smk.output.comparison)


main(snakemake)  # noqa: F821
