# MFA: per year (wildcard), the balance by country and stage in t REO-eq, origin tracing,
# indicators and the disruption test (resources/mfa/{year}/); then the public tables across years
# and the dynamic in-use stocks (results/). A year's job reads only that year's trade file, so a
# revised year reruns one mfa_year job and the collecting rules.

MFA = config["mfa"]  # defaults filled by the schema (Snakefile validate)
MFA_YEAR_FILES = list(MFA_YEAR_TABLES)  # one home: reeflow.schemas
# The parts of config mfa that a year's balance uses (lifetimes and initial_stock only matter to
# stocks, so changing them reruns only that rule).
MFA_YEAR_PARAMS = {key: MFA[key] for key in setting_keys(MfaSettings)}
MFA_YEAR_PATHS = {name: expand(f"resources/mfa/{{year}}/{name}.parquet", year=YEARS) for name in MFA_YEAR_FILES}


rule mfa_year:
    message:
        "MFA {wildcards.year}: balance, origin tracing, indicators, disruption test, US trade by mirror rule"
    input:
        trade="resources/clean/trade/{year}.parquet",
        coverage="resources/quality/{year}/coverage.parquet",
        world_check="resources/quality/{year}/world_vs_partners.parquet",
        production="resources/clean/production.parquet",
        commodities=config["commodities"],
    output:
        **{name: f"resources/mfa/{{year}}/{name}.parquet" for name in MFA_YEAR_FILES},
        us_trade="resources/mfa/{year}/us_trade_by_rule.parquet",  # for the validation (every mirror rule)
    params:
        code=script_code("mfa/mfa_year.py"),
        mfa=MFA_YEAR_PARAMS,
    log:
        "logs/mfa/mfa_{year}.log",
    benchmark:
        "benchmarks/mfa/mfa_{year}.tsv"
    priority: PRIORITY["mfa_year"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        ENV
    script:
        "../../scripts/mfa/mfa_year.py"


rule collect_mfa:
    message:
        "MFA: public tables across years (balance, flows, origins, indicators, headline)"
    input:
        **MFA_YEAR_PATHS,
    output:
        balance="results/mfa/balance.parquet",
        flows="results/mfa/flows.parquet",
        origins="results/mfa/origins.parquet",
        indicators="results/tables/indicators.csv",
        headline="results/tables/headline.csv",
        disruption="results/tables/disruption.csv",
        mass_balance="results/quality/mass_balance.csv",
    params:
        code=script_code("mfa/collect_mfa.py"),
    log:
        "logs/mfa/collect_mfa.log",
    benchmark:
        "benchmarks/mfa/collect_mfa.tsv"
    priority: PRIORITY["collect_mfa"]
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        "../../scripts/mfa/collect_mfa.py"


# End uses (issue #12): the final stage's consumption split among applications and products by
# the cited tables of config end_uses; stock products build stocks, dissipative uses are lost.
END_USES = config["end_uses"]
END_USE_TABLES = {
    "shares": END_USES["shares"],
    "products": END_USES["products"],
}


rule stocks:
    message:
        "In-use stocks and end-of-life flows by product (end-use split of final consumption), every country"
    input:
        balance="results/mfa/balance.parquet",
        flows="results/mfa/flows.parquet",
        commodities=config["commodities"],
        **END_USE_TABLES,
    output:
        stocks="results/mfa/stocks.parquet",
    params:
        code=script_code("mfa/stocks.py"),
        lifetimes=MFA["lifetimes"],
        initial_stock=MFA["initial_stock"],
        years=YEARS,
    log:
        "logs/mfa/stocks.log",
    benchmark:
        "benchmarks/mfa/stocks.tsv"
    priority: PRIORITY["stocks"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/mfa/stocks.py"


TARGETS += [rules.collect_mfa.output, rules.stocks.output]
