# Clean: raw answers -> validated, harmonised Parquet. Trade per year (a revised year reruns one
# year); production in one table (USGS editions span many years); data-quality tables beside them.


rule clean_trade:
    message:
        "Trade {wildcards.year}: countries, HS revisions, units, mirror reconciliation"
    input:
        raw=trade_raw_input,
        tariffline=tariffline_raw_input,
    output:
        reported="resources/clean/reported/{year}.parquet",
        trade="resources/clean/trade/{year}.parquet",
        coverage="resources/quality/{year}/coverage.parquet",
        world_check="resources/quality/{year}/world_vs_partners.parquet",
        discrepancies="resources/quality/{year}/mirror_discrepancies.parquet",
        unmapped="resources/quality/{year}/unmapped_codes.parquet",
        cross_code="resources/quality/{year}/cross_code_matches.parquet",
        provenance="resources/report/provenance/{year}.csv",
    params:
        code=script_code("clean/clean_trade.py"),
        commodities=commodity_map(),
        trade=config["trade"],
        source=TRADE["source"],
    log:
        "logs/clean/trade_{year}.log",
    benchmark:
        "benchmarks/clean/trade_{year}.tsv"
    priority: PRIORITY["clean_trade"]
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/clean/clean_trade.py"


rule collect_trade_quality:
    message:
        "Data-quality tables across years"
    input:
        coverage=expand("resources/quality/{year}/coverage.parquet", year=YEARS),
        world_check=expand("resources/quality/{year}/world_vs_partners.parquet", year=YEARS),
        discrepancies=expand("resources/quality/{year}/mirror_discrepancies.parquet", year=YEARS),
        unmapped=expand("resources/quality/{year}/unmapped_codes.parquet", year=YEARS),
        cross_code=expand("resources/quality/{year}/cross_code_matches.parquet", year=YEARS),
        commodities=config["commodities"],
    output:
        coverage="results/quality/coverage.csv",
        world_check="results/quality/world_vs_partners.csv",
        discrepancies="results/quality/mirror_discrepancies.csv",
        unmapped="results/quality/unmapped_codes.csv",
        cross_code="results/quality/cross_code_matches.csv",
    params:
        code=script_code("clean/collect_trade_quality.py"),
    log:
        "logs/clean/collect_trade_quality.log",
    benchmark:
        "benchmarks/clean/collect_trade_quality.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/clean/collect_trade_quality.py"


rule clean_production:
    message:
        "Production by country, year and stage from every USGS input and the stage statistics"
    input:
        raw=usgs_raw_paths(),
        provenance=usgs_provenance_paths(),
        # cited statistics of the stages after mining; '' in config disables them
        stage_statistics=[p for p in [config["production"]["stage_statistics"]] if p],
    output:
        production="resources/clean/production.parquet",
        salient="resources/clean/usgs_salient.parquet",
        revisions="results/quality/production_revisions.csv",
        gaps="results/quality/production_gaps.csv",
        world_check="results/quality/production_world_check.csv",
    params:
        code=script_code("clean/clean_production.py"),
        production=config["production"],
        years=YEARS,
    log:
        "logs/clean/production.log",
    benchmark:
        "benchmarks/clean/production.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/clean/clean_production.py"


TARGETS += [
    expand("resources/clean/trade/{year}.parquet", year=YEARS),
    "resources/clean/production.parquet",
    rules.collect_trade_quality.output,
]
