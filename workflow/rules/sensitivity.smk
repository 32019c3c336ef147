# Sensitivity: Monte Carlo over the uncertain choices (content and share coefficients, yields, mirror
# rule, imputation), drawn once and shared by every year; one job per year vectorised over draws;
# then percentiles, the probability that the US is a net exporter, one-at-a-time and Sobol indices.


rule sensitivity_samples:
    message:
        "Sensitivity: draw the uncertain parameters once for every year"
    input:
        commodities=config["commodities"],
    output:
        samples="resources/sensitivity/samples.parquet",
    params:
        code=script_code("sensitivity/sensitivity_samples.py"),
        space=SENSITIVITY_SPACE,
        draws=config["sensitivity"]["draws"],
        seed=config["sensitivity"]["seed"],
    log:
        "logs/sensitivity/samples.log",
    benchmark:
        "benchmarks/sensitivity/samples.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/sensitivity_samples.py"


rule sensitivity_year:
    message:
        "Sensitivity {wildcards.year}: headline indicators for every draw"
    input:
        trade="resources/clean/trade/{year}.parquet",
        production="resources/clean/production.parquet",
        commodities=config["commodities"],
        samples="resources/sensitivity/samples.parquet",
    output:
        draws="resources/sensitivity/{year}.parquet",
    params:
        code=script_code("sensitivity/sensitivity_year.py"),
        space=SENSITIVITY_SPACE,
    log:
        "logs/sensitivity/year_{year}.log",
    benchmark:
        "benchmarks/sensitivity/year_{year}.tsv"
    priority: PRIORITY["sensitivity_year"]
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/sensitivity_year.py"


rule collect_sensitivity:
    message:
        "Sensitivity: percentiles and net-exporter probability across years"
    input:
        draws=expand("resources/sensitivity/{year}.parquet", year=YEARS),
    output:
        draws="results/sensitivity/draws.parquet",
        uncertainty="results/tables/headline_uncertainty.csv",
        probability="results/tables/us_net_exporter_probability.csv",
    params:
        code=script_code("sensitivity/collect_sensitivity.py"),
    log:
        "logs/sensitivity/collect.log",
    benchmark:
        "benchmarks/sensitivity/collect.tsv"
    priority: PRIORITY["collect_sensitivity"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/collect_sensitivity.py"


rule sensitivity_oat:
    message:
        "Sensitivity: one parameter group at a time, years {params.years}"
    input:
        trade=expand("resources/clean/trade/{year}.parquet", year=SENSITIVITY_YEARS),
        production="resources/clean/production.parquet",
        commodities=config["commodities"],
    output:
        oat="results/sensitivity/oat.csv",
    params:
        code=script_code("sensitivity/sensitivity_oat.py"),
        space=SENSITIVITY_SPACE,
        years=SENSITIVITY_YEARS,
    log:
        "logs/sensitivity/oat.log",
    benchmark:
        "benchmarks/sensitivity/oat.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/sensitivity_oat.py"


rule sensitivity_sobol:
    message:
        "Sensitivity: Sobol indices of the parameter groups, years {params.years}"
    input:
        trade=expand("resources/clean/trade/{year}.parquet", year=SENSITIVITY_YEARS),
        production="resources/clean/production.parquet",
        commodities=config["commodities"],
    output:
        sobol="results/sensitivity/sobol.csv",
    params:
        code=script_code("sensitivity/sobol.py"),
        space=SENSITIVITY_SPACE,
        years=SENSITIVITY_YEARS,
        n_base=config["sensitivity"]["sobol_n"],
        resamples=config["sensitivity"]["sobol_resamples"],
        seed=config["sensitivity"]["seed"],
    log:
        "logs/sensitivity/sobol.log",
    benchmark:
        "benchmarks/sensitivity/sobol.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/sobol.py"


TARGETS += [
    rules.collect_sensitivity.output,
    rules.sensitivity_oat.output,
    rules.sensitivity_sobol.output,
]


rule stocks_range:
    message:
        "Sensitivity of in-use stocks: Monte Carlo over end-use shares and lifetimes"
    input:
        balance="results/mfa/balance.parquet",
        flows="results/mfa/flows.parquet",
        commodities=config["commodities"],
        **END_USE_TABLES,
    output:
        range="results/sensitivity/stocks_range.csv",
    params:
        code=script_code("sensitivity/stocks_range.py"),
        end_uses={key: END_USES[key] for key in ("draws", "lifetime_range")},
        lifetimes=MFA["lifetimes"],
        initial_stock=MFA["initial_stock"],
        years=YEARS,
        seed=config["sensitivity"]["seed"],
    log:
        "logs/sensitivity/stocks_range.log",
    benchmark:
        "benchmarks/sensitivity/stocks_range.tsv"
    priority: PRIORITY["stocks_range"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/sensitivity/stocks_range.py"


TARGETS += [rules.stocks_range.output]
