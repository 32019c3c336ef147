# BACI: CEPII's reconciled bulk trade as the trade source: comtrade.source baci, or auto without
# COMTRADE_API_KEY (common.smk TRADE). clean_trade reads resources/raw/baci/{year}.parquet, each year
# streamed out of the release its HS vintage calls for (baci.releases; common.smk BACI_PLAN). A
# release is a local .zip / unpacked folder (its `archive`) or downloaded from baci.url ({hs},
# {version}): resumable, checked, renamed into place when whole (reeflow.acquire.resumable).
# To compare both sources, keep Comtrade as the source (a key, or files) and set
# baci.compare_with_comtrade: true -> results/quality/source_comparison*.csv and a figure.
# These rules are always defined; they run only when a target above asks for their outputs.

wildcard_constraints:
    baci_version=r"[0-9A-Za-z]+",
    hs=r"HS\d\d",


rule download_baci:
    message:
        "BACI release {wildcards.hs} V{wildcards.baci_version}: download (2-3 GB, streamed to disk, resumable)"
    output:
        archive="resources/raw/baci/BACI_{hs}_V{baci_version}.zip",
        record="resources/raw/baci/BACI_{hs}_V{baci_version}.download.json",
    params:
        url=baci_url,
        sha256=baci_sha256,
        timeout_seconds=BACI["timeout_seconds"],
        max_tries=BACI["max_tries"],
        max_archive_gb=BACI["max_archive_gb"],
    log:
        "logs/acquire/baci_download_{hs}_{baci_version}.log",
    benchmark:
        "benchmarks/acquire/baci_download_{hs}_{baci_version}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=360,
    conda:
        ENV
    script:
        "../../scripts/acquire/download_baci.py"


rule register_baci_archive:
    message:
        "BACI release {wildcards.hs}: check it opens and is that vintage, hash it once, list its members"
    input:
        archive=baci_register_archive,
        download=baci_register_record,
    output:
        provenance="resources/raw/baci/provenance/{hs}.json",
    params:
        code=script_code("acquire/register_baci_archive.py"),
        release=baci_register_params,
    log:
        "logs/acquire/baci_register_{hs}.log",
    benchmark:
        "benchmarks/acquire/baci_register_{hs}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/acquire/register_baci_archive.py"


rule extract_baci:
    message:
        "BACI {wildcards.year}: stream the year's CSV from its release, keep the commodity table's codes"
    input:
        archive=baci_year_archive,
        provenance=baci_year_provenance,
    output:
        extract="resources/raw/baci/{year}.parquet",
    params:
        code=script_code("acquire/extract_baci.py"),
        release=baci_year_params,
        codes=baci_codes(),
        block_bytes=int(BACI["block_size_mb"]) * 2**20,
        max_member_rows=BACI["max_member_rows"],
        max_kept_rows=BACI["max_kept_rows"],
        uncovered=BACI["uncovered_years"],
    log:
        "logs/acquire/baci_extract_{year}.log",
    benchmark:
        "benchmarks/acquire/baci_extract_{year}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/acquire/extract_baci.py"


rule compare_sources:
    message:
        "BACI vs Comtrade: tonnes and t REO-eq per flow and per country"
    input:
        baci=expand("resources/raw/baci/{year}.parquet", year=YEARS),
        trade=expand("resources/clean/trade/{year}.parquet", year=YEARS),
        commodities=config["commodities"],
    output:
        comparison="results/quality/source_comparison.csv",
        countries="results/quality/source_comparison_countries.csv",
    params:
        code=script_code("clean/compare_sources.py"),
        trade=config["trade"],
    log:
        "logs/quality/compare_sources.log",
    benchmark:
        "benchmarks/quality/compare_sources.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/clean/compare_sources.py"


rule fig_source_comparison:
    message:
        "Figure: BACI against Comtrade (world totals, every country's exports and imports)"
    input:
        countries="results/quality/source_comparison_countries.csv",
    output:
        png=report(
            "results/figures/fig_source_comparison.png",
            caption="../report/fig_source_comparison.rst",
            category="Data quality",
            labels={"figure": "BACI against Comtrade"},
        ),
        svg="results/figures/fig_source_comparison.svg",
    params:
        code=script_code("report/plot_source_comparison.py"),
        source=source_line("baci_vs_comtrade", config["trade"]["mirror_rule"]),
    log:
        "logs/figures/fig_source_comparison.log",
    benchmark:
        "benchmarks/figures/fig_source_comparison.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_source_comparison.py"


if baci_comparison_wanted():
    TARGETS += [rules.compare_sources.output, rules.fig_source_comparison.output.png]
