"""Draw the uncertain parameters once, for every year (resources/sensitivity/samples.parquet)."""

from reeflow.io import setup_logging
from reeflow.sensitivity.montecarlo import space_from_config, write_samples
from reeflow.settings import SensitivitySpace


def main(smk) -> None:
    setup_logging(smk.log[0])
    space = space_from_config(smk.input.commodities, SensitivitySpace.from_mapping(smk.params.space))
    write_samples(space, int(smk.params.draws), int(smk.params.seed), smk.output.samples)


main(snakemake)  # noqa: F821
