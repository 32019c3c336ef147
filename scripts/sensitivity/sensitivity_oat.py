"""One-at-a-time sensitivity: each parameter group at its low and high setting, the others central."""

from reeflow.io import setup_logging
from reeflow.sensitivity.montecarlo import run_oat, space_from_config
from reeflow.settings import SensitivitySpace


def main(smk) -> None:
    setup_logging(smk.log[0])
    space = space_from_config(smk.input.commodities, SensitivitySpace.from_mapping(smk.params.space))
    run_oat(dict(zip(smk.params.years, smk.input.trade)), smk.input.production, space, smk.output.oat)


main(snakemake)  # noqa: F821
