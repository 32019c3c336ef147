"""Check a CEPII BACI archive opens, hash it once and record its version and members."""

from reeflow.acquire.baci import register_archive
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    register_archive(
        smk.input.archive,
        smk.output.provenance,
        version=smk.params.version,
        download_record=smk.input.download or None,
    )


main(snakemake)  # noqa: F821
