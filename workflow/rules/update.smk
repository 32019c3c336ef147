# Updates: `snakemake update` (make update) asks each source what it revised since the cached
# copy and refreshes only that (reeflow.acquire.update); it is never part of `all`. The next normal
# run reruns the refreshed years (their raw files changed), and update_summary, part of `all`,
# compares the headline with the one the refresh saved (results/updates/).

rule update:
    message:
        "Ask Comtrade (data availability), BACI and USGS what they revised; refresh only that"
    params:
        code=script_code("acquire/update.py"),
        comtrade=comtrade_scope(),
        tariffline=tariffline_scope(),
        years=YEARS,
        usgs=USGS_ENTRIES,
        baci=update_baci(),
        timeout_seconds=config["usgs"]["timeout_seconds"],
        paths={
            "comtrade": "resources/raw/comtrade",
            "tariffline": "resources/raw/tariffline",
            "usgs_provenance": "resources/raw/usgs/provenance",
            "updates": UPDATES,
            "headline": "results/tables/headline.csv",
        },
    log:
        "logs/update/update.log",
    threads: 1
    resources:
        comtrade_api=1,
        mem_mb=2000,
        runtime=240,
    conda:
        ENV
    script:
        "../../scripts/acquire/update.py"


rule update_summary:
    message:
        "What the last update changed: records per year and reporter, headline before and after"
    input:
        headline="results/tables/headline.csv",
        refresh=refresh_inputs,
    output:
        records=report(
            f"{UPDATES}/records_changed.csv",
            caption="../report/update_records.rst",
            category="Updates",
            labels={"item": "Records changed by the last update"},
        ),
        headline=report(
            f"{UPDATES}/headline_changes.csv",
            caption="../report/update_headline.rst",
            category="Updates",
            labels={"item": "Headline before and after the last update"},
        ),
    params:
        code=script_code("acquire/update_summary.py"),
        refresh_dir=REFRESH_DIR,
    log:
        "logs/update/summary.log",
    benchmark:
        "benchmarks/update/summary.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../../scripts/acquire/update_summary.py"


TARGETS += [rules.update_summary.output]
