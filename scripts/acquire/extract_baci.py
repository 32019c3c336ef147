"""Stream one year of a CEPII BACI release into a small Parquet extract of the commodity table's codes
(or write a flagged empty extract for a year no release covers, with baci.uncovered_years: gap)."""

from reeflow.acquire.baci import extract_year, write_gap_extract
from reeflow.io import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    year = int(smk.wildcards.year)
    if smk.params.release["gap"]:
        write_gap_extract(smk.output.extract, year, smk.params.release["reason"])
        return
    extract_year(
        smk.input.archive,
        year,
        smk.params.codes,
        smk.output.extract,
        smk.input.provenance,
        block_bytes=smk.params.block_bytes,
        threads=smk.threads,
        max_member_rows=int(smk.params.max_member_rows),
        max_kept_rows=int(smk.params.max_kept_rows),
        gap_if_missing=smk.params.uncovered == "gap",
    )


main(snakemake)  # noqa: F821
