"""Production by country, year and stage (mine production, stage statistics), US salient statistics and
their quality tables from USGS inputs and config production.stage_statistics."""

from reeflow.clean.production import run_clean_production
from reeflow.io import setup_logging
from reeflow.settings import ProductionSettings


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_clean_production(
        list(smk.input.raw),
        list(smk.input.provenance),
        {name: getattr(smk.output, name) for name in ("production", "salient", "revisions", "gaps", "world_check")},
        ProductionSettings.from_mapping(smk.params.production),
        list(smk.params.years),
        stage_statistics_path=smk.input.stage_statistics[0] if smk.input.stage_statistics else None,
    )


main(snakemake)  # noqa: F821
