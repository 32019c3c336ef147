"""Plausibility of the end-use split: product inflows against physical proxies, stock against consumption."""

from reeflow.io import setup_logging
from reeflow.mfa.end_uses import run_plausibility


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    run_plausibility(smk.input.stocks, smk.input.balance, smk.input.proxies, smk.output.plausibility)


main(snakemake)  # noqa: F821
