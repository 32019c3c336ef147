"""`snakemake update` (make update): ask each source what it revised since the cached copy, refresh
only that, and record what changed (reeflow.acquire.update)."""

from pathlib import Path

from reeflow.acquire import update
from reeflow.acquire.source import api_key_for
from reeflow.io import setup_logging
from reeflow.settings import ComtradeScope, TarifflineScope


def main(smk) -> None:
    setup_logging(smk.log[0])
    paths = {name: Path(path) for name, path in smk.params.paths.items()}
    datasets = []
    hs = ComtradeScope.from_mapping(smk.params.comtrade)
    if hs.source == "api":
        datasets.append(update.comtrade_dataset(paths["comtrade"], hs, api_key_for(hs.client)))
    lines = TarifflineScope.from_mapping(smk.params.tariffline)
    if lines.source == "api":
        datasets.append(update.tariffline_dataset(paths["tariffline"], lines, api_key_for(lines.client)))
    timeout = float(smk.params.timeout_seconds)
    files = update.check_usgs(smk.params.usgs, paths["usgs_provenance"], timeout)
    files += update.check_baci(smk.params.baci, timeout)
    record = update.run_update(datasets, list(smk.params.years), files, paths["updates"], paths["headline"])
    summary = update.summarise(record)
    update.log.info("%s", summary)
    print(summary)


main(snakemake)  # noqa: F821
