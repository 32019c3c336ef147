# Acquire: download every raw input (or register local files) with provenance, one file per
# Comtrade year so that a revised year reruns only that year downstream.


rule download_comtrade:
    message:
        "Comtrade {wildcards.year}: download or read local exports"
    input:
        files=comtrade_input_files,
    output:
        raw="resources/raw/comtrade/{year}.json",
    params:
        scope=comtrade_scope(),
    log:
        "logs/acquire/comtrade_{year}.log",
    benchmark:
        "benchmarks/acquire/comtrade_{year}.tsv"
    threads: 1
    resources:
        comtrade_api=1,
        mem_mb=2000,
        runtime=240,
    conda:
        ENV
    script:
        "../../scripts/acquire/download_comtrade.py"


rule download_tariffline:
    message:
        "Comtrade tariff lines {wildcards.year}: download or read local files"
    input:
        files=tariffline_input_files,
    output:
        raw="resources/raw/tariffline/{year}.json",
    params:
        scope=tariffline_scope(),
    log:
        "logs/acquire/tariffline_{year}.log",
    benchmark:
        "benchmarks/acquire/tariffline_{year}.tsv"
    threads: 1
    resources:
        comtrade_api=1,
        mem_mb=1000,
        runtime=120,
    conda:
        ENV
    script:
        "../../scripts/acquire/download_tariffline.py"


rule retrieve_usgs:
    message:
        "USGS {wildcards.kind}/{wildcards.name}: download or register a local file"
    input:
        local=usgs_local_input,
    output:
        raw="resources/raw/usgs/{kind}/{name}",
        provenance="resources/raw/usgs/provenance/{kind}/{name}.json",
    params:
        entry=usgs_entry,
        timeout_seconds=config["usgs"]["timeout_seconds"],
        max_tries=config["usgs"]["max_tries"],
        max_file_mb=config["usgs"]["max_file_mb"],
    log:
        "logs/acquire/usgs_{kind}_{name}.log",
    benchmark:
        "benchmarks/acquire/usgs_{kind}_{name}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/acquire/retrieve_usgs.py"


rule download:
    message:
        "All raw inputs are in resources/raw/"
    input:
        trade=raw_trade_paths(),
        usgs=usgs_raw_paths(),
        provenance=usgs_provenance_paths(),
        tariffline=tariffline_raw_paths(),
