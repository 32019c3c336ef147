"""Sobol first-order and total indices of the parameter groups for the chosen headline indicators."""

from reeflow.io import setup_logging
from reeflow.sensitivity.montecarlo import run_sobol, space_from_config
from reeflow.settings import SensitivitySpace


def main(smk) -> None:
    setup_logging(smk.log[0])
    space = space_from_config(smk.input.commodities, SensitivitySpace.from_mapping(smk.params.space))
    trade_paths = dict(zip(smk.params.years, smk.input.trade))
    run_sobol(
        trade_paths,
        smk.input.production,
        space,
        int(smk.params.n_base),
        int(smk.params.seed),
        smk.output.sobol,
        num_resamples=int(smk.params.resamples),
    )


main(snakemake)  # noqa: F821
