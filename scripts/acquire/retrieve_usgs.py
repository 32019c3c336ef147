"""Download one USGS input (or register a local file) byte for byte, with a provenance record."""

from reeflow.acquire.usgs import retrieve_usgs
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    retrieve_usgs(
        dict(smk.params.entry),
        smk.output.raw,
        smk.output.provenance,
        timeout=float(smk.params.timeout_seconds),
        max_tries=int(smk.params.max_tries),
        max_bytes=int(float(smk.params.max_file_mb) * 2**20),
    )


main(snakemake)  # noqa: F821
