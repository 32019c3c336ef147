"""What the last `make update` refresh changed: records per year and reporter, headline before and
after (results/updates/; shown in the report)."""

from pathlib import Path

from reeflow.acquire.update import refresh_summary
from reeflow.io import setup_logging, write_csv_atomic


def main(smk) -> None:
    setup_logging(smk.log[0])
    records, headline = refresh_summary(Path(smk.params.refresh_dir), Path(smk.input.headline))
    write_csv_atomic(records, smk.output.records)
    write_csv_atomic(headline, smk.output.headline)


main(snakemake)  # noqa: F821
