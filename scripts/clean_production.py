"""Mine production by country and year, US salient statistics and their quality tables from USGS inputs."""

from reeflow.io import setup_logging
from reeflow.production import run_clean_production


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_clean_production(
        list(smk.input.raw),
        list(smk.input.provenance),
        {name: getattr(smk.output, name) for name in ("production", "salient", "revisions", "gaps", "world_check")},
        dict(smk.params.production),
        list(smk.params.years),
    )


main(snakemake)  # noqa: F821
