"""Data provenance of the run (every raw answer and file, and the configuration) for the report."""

from reeflow.io import setup_logging
from reeflow.report.publish import write_provenance


def main(smk) -> None:
    setup_logging(smk.log[0])
    write_provenance(smk.input.raw, smk.input.usgs, smk.params.config, smk.output.csv, smk.output.html)


main(snakemake)  # noqa: F821
