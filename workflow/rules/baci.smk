# BACI: CEPII's reconciled bulk trade (HS92) as the trade source. With comtrade.source: baci,
# clean_trade reads resources/raw/baci/{year}.parquet (common.smk, raw_trade_path). The archive is
# a local .zip / unpacked folder (baci.archive) or the release downloaded from baci.url + version.
# To compare both sources, keep comtrade.source: files (comtrade.files) or api, set baci.archive
# (or baci.version) and baci.compare_with_comtrade: true -> results/quality/source_comparison.csv.
# These rules are always defined; they run only when a target above asks for their outputs.

from reeflow.baci import download_url  # noqa: E402

BACI = config.get("baci") or {}
BACI_PROVENANCE = "resources/raw/baci/archive_provenance.json"


wildcard_constraints:
    baci_version=r"[0-9A-Za-z]+",


def baci_local_archive():
    return str(BACI.get("archive", "") or "").strip()


def baci_archive_path():
    """The archive the extracts read: the local one if given, else the downloaded release."""
    local = baci_local_archive()
    if local:
        return local
    version = str(BACI.get("version", "") or "").strip()
    if not version:
        raise ValueError(
            "config baci: set baci.archive (a local BACI .zip or its unpacked folder) or baci.version "
            "(with baci.url) to download a release"
        )
    return f"resources/raw/baci/BACI_HS92_V{version}.zip"


def baci_archive(wildcards):
    return baci_archive_path()


def baci_download_record(wildcards):
    """The download's own record (url, sha256, time) when the archive was downloaded, else nothing."""
    if baci_local_archive():
        return []
    return baci_archive_path().removesuffix(".zip") + ".download.json"


def baci_url(wildcards):
    return download_url(
        BACI.get("url", "https://www.cepii.fr/DATA_DOWNLOAD/baci/data/BACI_HS92_V{version}.zip"),
        wildcards.baci_version,
    )


def baci_codes():
    """Codes the extract keeps: every commodity-table code (4-digit ones keep their children)."""
    return sorted(COMMODITIES["hs_code"].unique())


def baci_comparison_wanted():
    """Whether to write source_comparison.csv; Comtrade must stay the main source for that."""
    if not BACI.get("compare_with_comtrade", False):
        return False
    if config["comtrade"]["source"] == "baci":
        raise ValueError(
            "config baci.compare_with_comtrade: true needs Comtrade as the trade source; set "
            "comtrade.source: files (with comtrade.files) or api, and baci.archive (or baci.version)"
        )
    return True


rule download_baci:
    message:
        "BACI release V{wildcards.baci_version}: download (several GB, streamed to disk)"
    output:
        archive="resources/raw/baci/BACI_HS92_V{baci_version}.zip",
        record="resources/raw/baci/BACI_HS92_V{baci_version}.download.json",
    params:
        url=baci_url,
        timeout_seconds=BACI.get("timeout_seconds", 300),
        max_tries=BACI.get("max_tries", 4),
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
        "../../scripts/download_baci.py"


rule register_baci_archive:
    message:
        "BACI archive: check it opens, hash it once, list its members"
    input:
        archive=baci_archive,
        download=baci_download_record,
    output:
        provenance=BACI_PROVENANCE,
    params:
        version=str(BACI.get("version", "") or ""),
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
        "../../scripts/register_baci_archive.py"


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
        block_bytes=int(BACI.get("block_size_mb", 16)) * 2**20,
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
        "../../scripts/extract_baci.py"


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
        "../../scripts/compare_sources.py"


if baci_comparison_wanted():
    TARGETS += [rules.compare_sources.output.comparison]
