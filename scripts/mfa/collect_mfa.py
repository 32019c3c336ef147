"""Collect the per-year MFA files into the public tables under results/."""

from reeflow.io import setup_logging
from reeflow.mfa.balance import YEAR_OUTPUTS, collect_mfa


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    collect_mfa(
        inputs={name: list(smk.input[name]) for name in YEAR_OUTPUTS},
        outputs={name: smk.output[name] for name in smk.output.keys()},
    )


main(snakemake)  # noqa: F821
