"""Data provenance of the run (every raw answer and file, and the configuration) for the report."""

import logging

from reeflow.io import setup_logging
from reeflow.report.publish import write_provenance


def main(smk) -> None:
    setup_logging(smk.log[0])
    source = smk.params.trade_source  # {configured, source, key_present, reason}: never the key itself
    logging.getLogger("reeflow").info("trade source: %s", source["reason"])
    write_provenance(smk.input.raw, smk.input.usgs, smk.params.config, smk.output.csv, smk.output.html,
                     trade_source=source)  # fmt: skip


main(snakemake)  # noqa: F821
