# reeflow: dynamic material flow analysis of rare earth elements, from mines to products.
# Run: snakemake --cores 8   (see README.md). Steps: acquire -> clean -> mfa -> sensitivity
# -> figures -> report, one rules file each under workflow/rules/.

from snakemake.utils import min_version, validate

min_version("9.18")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate(config, "workflow/schemas/config.schema.yaml")

# Each rules file appends its final outputs to TARGETS; `rule all` (last, default target) asks for them.
TARGETS = []


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/clean.smk"
include: "workflow/rules/baci.smk"
include: "workflow/rules/mfa.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/shocks.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/update.smk"


rule all:
    default_target: True
    input:
        TARGETS,
