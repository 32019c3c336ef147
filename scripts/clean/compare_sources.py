"""BACI against Comtrade: tonnes and t REO-eq per flow, and each country's totals, side by side."""

import logging

from reeflow.clean.source_comparison import compare_countries, compare_flows, headline_gap
from reeflow.commodities import load_commodities
from reeflow.io import setup_logging, write_csv_atomic
from reeflow.settings import TradeSettings


def main(smk) -> None:
    setup_logging(smk.log[0])
    trade = TradeSettings.from_mapping(smk.params.trade)
    commodities = load_commodities(smk.input.commodities)
    flows = compare_flows(smk.input.baci, smk.input.trade, commodities, trade.impute_missing_weights)
    countries = compare_countries(flows)
    write_csv_atomic(flows, smk.output.comparison)
    write_csv_atomic(countries, smk.output.countries)
    logging.getLogger("reeflow").info("USA over all years, t REO-eq: %s", headline_gap(countries))


main(snakemake)  # noqa: F821
