# Validation: the model's US trade (under every mirror rule) and the central balance against USGS
# Mineral Commodity Summaries salient statistics that the model never reads (reeflow.validation).


rule validate:
    message:
        "Validation: modelled US trade under every mirror rule vs USGS salient statistics, {params.n_years} years"
    input:
        trade=expand("resources/clean/trade/{year}.parquet", year=YEARS),
        commodities=config["commodities"],
        salient="resources/clean/usgs_salient.parquet",
        production="resources/clean/production.parquet",
        world_check="results/quality/production_world_check.csv",
        balance="results/mfa/balance.parquet",
    output:
        validation=report(
            "results/validation/validation.csv",
            caption="../report/validation.rst",
            category="Validation",
            labels={"item": "Model vs USGS, by year, indicator and mirror rule"},
        ),
        fit=report(
            "results/validation/mirror_rule_fit.csv",
            caption="../report/validation.rst",
            category="Validation",
            labels={"item": "Fit of each mirror rule to USGS"},
        ),
    params:
        central_rule=config.get("trade", {}).get("mirror_rule", "importer_first"),
        years=YEARS,
        n_years=len(YEARS),
    log:
        "logs/validation/validate.log",
    benchmark:
        "benchmarks/validation/validate.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        ENV
    script:
        "../../scripts/validate.py"


rule fig_validation:
    message:
        "Figure: modelled US exports and imports under every mirror rule against USGS"
    input:
        validation="results/validation/validation.csv",
    output:
        png=report(
            "results/figures/fig_validation.png",
            caption="../report/fig_validation.rst",
            category="Validation",
            labels={"figure": "US trade: model under each mirror rule vs USGS"},
        ),
        svg="results/figures/fig_validation.svg",
    params:
        source=FIGURE_SOURCE,
    log:
        "logs/figures/fig_validation.log",
    benchmark:
        "benchmarks/figures/fig_validation.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/plot_validation.py"


TARGETS += [rules.validate.output, rules.fig_validation.output]
