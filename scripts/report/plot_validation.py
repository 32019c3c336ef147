"""Figure: modelled US rare-earth exports and imports under every mirror rule against USGS."""

from reeflow.io import setup_logging
from reeflow.report.plots import render_validation


def main(smk) -> None:  # type: ignore[no-untyped-def]
    setup_logging(smk.log[0])
    render_validation(smk.input.validation, smk.output.png, smk.output.svg, smk.params.source)


main(snakemake)  # noqa: F821
