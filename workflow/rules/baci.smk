# BACI: CEPII's reconciled bulk trade (HS92) as the trade source. With comtrade.source: baci,
# clean_trade reads resources/raw/baci/{year}.parquet (common.smk, raw_trade_path). The archive is
# a local .zip / unpacked folder (baci.archive) or the release downloaded from baci.url + version.
# To compare both sources, keep comtrade.source: files (comtrade.files) or api, set baci.archive
# (or baci.version) and baci.compare_with_comtrade: true -> results/quality/source_comparison.csv.
# These rules are always defined; they run only when a target above asks for their outputs.

wildcard_constraints:
    baci_version=r"[0-9A-Za-z]+",


rule download_baci:
    message:
        "BACI release V{wildcards.baci_version}: download (several GB, streamed to disk)"
    output:
        archive="resources/raw/baci/BACI_HS92_V{baci_version}.zip",
        record="resources/raw/baci/BACI_HS92_V{baci_version}.download.json",
    params:
        url=baci_url,
        timeout_seconds=BACI["timeout_seconds"],
        max_tries=BACI["max_tries"],
        max_archive_gb=BACI["max_archive_gb"],
    log:
        "logs/acquire/baci_download_{baci_version}.log",
    benchmark:
        "benchmarks/acquire/baci_download_{baci_version}.tsv"
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
        "BACI archive: check it opens, hash it once, list its members"
    input:
        archive=baci_archive,
        download=baci_download_record,
    output:
        provenance=BACI_PROVENANCE,
    params:
        version=str(BACI["version"]),
    log:
        "logs/acquire/baci_register.log",
    benchmark:
        "benchmarks/acquire/baci_register.tsv"
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
        "BACI {wildcards.year}: stream the year's CSV from the archive, keep the commodity table's codes"
    input:
        archive=baci_archive,
        provenance=BACI_PROVENANCE,
    output:
        extract="resources/raw/baci/{year}.parquet",
    params:
        codes=baci_codes(),
        block_bytes=int(BACI["block_size_mb"]) * 2**20,
        max_member_rows=BACI["max_member_rows"],
        max_kept_rows=BACI["max_kept_rows"],
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
        "BACI vs Comtrade: tonnes per year, code and country pair"
    input:
        baci=expand("resources/raw/baci/{year}.parquet", year=YEARS),
        trade=expand("resources/clean/trade/{year}.parquet", year=YEARS),
    output:
        comparison="results/quality/source_comparison.csv",
    params:
        commodities=commodity_map(),
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


if baci_comparison_wanted():
    TARGETS += [rules.compare_sources.output.comparison]
