"""Check a CEPII BACI release opens and is the vintage configured, hash it once, record its members."""

from reeflow.acquire.baci import register_archive
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    release = smk.params.release
    register_archive(
        smk.input.archive,
        smk.output.provenance,
        version=release["version"],
        download_record=smk.input.download or None,
        hs=release["hs"],
    )


main(snakemake)  # noqa: F821
