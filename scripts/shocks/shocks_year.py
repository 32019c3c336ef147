"""One year's supply shocks: first order, propagated and rerouted shortfalls; stabilisation."""

import os

# One BLAS thread per job (threads: 1): the job factorises many small matrices, where a thread pool
# per job only fights the other jobs for the cores. Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from reeflow.io import keep_freed_memory, setup_logging  # noqa: E402
from reeflow.mfa.shocks import run_shocks_year  # noqa: E402
from reeflow.settings import ShockSettings  # noqa: E402


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    keep_freed_memory()  # the Monte Carlo frees and reallocates the same large arrays per draw
    run_shocks_year(
        balance_path=smk.input.balance,
        flows_path=smk.input.flows,
        year=int(smk.wildcards.year),
        settings=ShockSettings.from_mapping(smk.params.shocks),
        outputs={"shocks": smk.output.shocks, "stabilisation": smk.output.stabilisation},
    )


main(snakemake)  # noqa: F821
