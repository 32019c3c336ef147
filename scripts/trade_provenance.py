"""One year's raw trade provenance (url or file, retrieval time, status, count, sha256)."""

from reeflow.io import setup_logging
from reeflow.report import write_trade_provenance


def main(smk) -> None:
    setup_logging(smk.log[0])
    write_trade_provenance(smk.input.raw, smk.output.csv)


main(snakemake)  # noqa: F821
