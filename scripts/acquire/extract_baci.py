"""Stream one year of a CEPII BACI release into a small Parquet extract of the commodity table's codes."""

from reeflow.acquire.baci import extract_year
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    extract_year(
        smk.input.archive,
        int(smk.wildcards.year),
        smk.params.codes,
        smk.output.extract,
        smk.input.provenance,
        block_bytes=smk.params.block_bytes,
        threads=smk.threads,
        max_member_rows=int(smk.params.max_member_rows),
        max_kept_rows=int(smk.params.max_kept_rows),
    )


main(snakemake)  # noqa: F821
