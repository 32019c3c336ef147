"""Compare BACI's and Comtrade's tonnes per year, code and country pair (results/quality)."""

from reeflow.acquire.baci import compare_sources
from reeflow.io import setup_logging, write_csv_atomic
from reeflow.settings import TradeSettings


def main(smk) -> None:
    setup_logging(smk.log[0])
    trade = TradeSettings.from_mapping(smk.params.trade)
    table = compare_sources(smk.input.baci, smk.input.trade, smk.params.commodities, trade.impute_missing_weights)
    write_csv_atomic(table, smk.output.comparison)


main(snakemake)  # noqa: F821
