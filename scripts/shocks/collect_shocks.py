"""Supply shocks of every year -> results/tables/{shocks,stabilisation}.csv."""

from reeflow.io import setup_logging
from reeflow.mfa.shocks import collect_shocks


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    collect_shocks(
        inputs={"shocks": list(smk.input.shocks), "stabilisation": list(smk.input.stabilisation)},
        outputs={"shocks": smk.output.shocks, "stabilisation": smk.output.stabilisation},
    )


main(snakemake)  # noqa: F821
