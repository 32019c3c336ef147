"""Download a CEPII BACI release zip: streamed to disk, resumable, checked, with its sha256 and time."""

from reeflow.acquire.baci import download_archive
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    download_archive(
        smk.params.url,
        smk.output.archive,
        smk.output.record,
        timeout=smk.params.timeout_seconds,
        max_tries=smk.params.max_tries,
        max_bytes=int(float(smk.params.max_archive_gb) * 2**30),
        expected_sha256=smk.params.sha256,
    )


main(snakemake)  # noqa: F821
