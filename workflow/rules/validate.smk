# Validation: the model's US trade (under every mirror rule) and the central balance against USGS
# Mineral Commodity Summaries salient statistics that the model never reads (reeflow.validate.usgs).


rule validate:
    message:
        "Validation: modelled US trade under every mirror rule vs USGS salient statistics, {params.n_years} years"
    input:
        us_trade=expand("resources/mfa/{year}/us_trade_by_rule.parquet", year=YEARS),
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
        code=script_code("validate/validate.py"),
        central_rule=config["trade"]["mirror_rule"],
        years=YEARS,
        n_years=len(YEARS),
    log:
        "logs/validation/validate.log",
    benchmark:
        "benchmarks/validation/validate.tsv"
    priority: PRIORITY["validate"]
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        ENV
    script:
        "../../scripts/validate/validate.py"


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
        code=script_code("report/plot_validation.py"),
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
        "../../scripts/report/plot_validation.py"


TARGETS += [rules.validate.output, rules.fig_validation.output]


# End uses (issue #12): modelled cars and wind inflows against independent physical proxies
# (capacity additions, vehicle sales x magnet intensity), and the in-use stock against consumption.
rule end_use_plausibility:
    message:
        "Validation: cars and wind inflows against physical proxies, in-use stock against consumption"
    input:
        stocks="results/mfa/stocks.parquet",
        balance="results/mfa/balance.parquet",
        proxies=END_USES["proxies"],
    output:
        plausibility=report(
            "results/validation/end_use_plausibility.csv",
            caption="../report/end_use_plausibility.rst",
            category="Validation",
            labels={"item": "End uses: model vs physical proxies"},
        ),
    params:
        code=script_code("validate/validate_end_uses.py"),
    log:
        "logs/validation/end_use_plausibility.log",
    benchmark:
        "benchmarks/validation/end_use_plausibility.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    conda:
        ENV
    script:
        "../../scripts/validate/validate_end_uses.py"


rule fig_end_uses:
    message:
        "Figure: final-stage consumption by end use; cars and wind inflows against physical proxies"
    input:
        stocks="results/mfa/stocks.parquet",
        plausibility="results/validation/end_use_plausibility.csv",
        range="results/sensitivity/stocks_range.csv",
    output:
        png=report(
            "results/figures/fig_end_uses.png",
            caption="../report/fig_end_uses.rst",
            category="Stocks",
            labels={"figure": "End uses and plausibility of cars and wind inflows"},
        ),
        svg="results/figures/fig_end_uses.svg",
    params:
        code=script_code("report/plot_end_uses.py"),
        source=FIGURE_SOURCE,
    log:
        "logs/figures/fig_end_uses.log",
    benchmark:
        "benchmarks/figures/fig_end_uses.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_end_uses.py"


TARGETS += [rules.end_use_plausibility.output, rules.fig_end_uses.output]
