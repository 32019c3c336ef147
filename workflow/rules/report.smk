# Report: `snakemake --report results/report.html` collects every item marked with report() (the
# figures in figures.smk, the tables and the provenance below) into one self-contained HTML file.


rule report_provenance:
    message:
        "Data provenance of the run: every raw answer and file, and the configuration"
    input:
        raw=expand("resources/report/provenance/{year}.csv", year=YEARS),
        usgs=usgs_provenance_paths(),
    output:
        csv=report(
            "results/report/provenance.csv",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"item": "Raw inputs (table)"},
        ),
        html=report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"item": "Raw inputs and configuration (page)"},
        ),
    params:
        code=script_code("report/write_provenance.py"),
        config=config,
        trade_source=TRADE,  # which source and why (only whether a key is set, never the key)
    log:
        "logs/report/provenance.log",
    benchmark:
        "benchmarks/report/provenance.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/write_provenance.py"


rule report_tables:
    message:
        "Headline and uncertainty tables for the report"
    input:
        headline="results/tables/headline.csv",
        uncertainty="results/tables/headline_uncertainty.csv",
    output:
        headline=report(
            "results/report/headline.csv",
            caption="../report/headline.rst",
            category="Tables",
            labels={"item": "Headline indicators"},
        ),
        uncertainty=report(
            "results/report/headline_uncertainty.csv",
            caption="../report/headline_uncertainty.rst",
            category="Tables",
            labels={"item": "Headline uncertainty (p05, p50, p95)"},
        ),
    params:
        code=script_code("report/report_tables.py"),
    log:
        "logs/report/tables.log",
    benchmark:
        "benchmarks/report/tables.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../../scripts/report/report_tables.py"


TARGETS += [rules.report_provenance.output, rules.report_tables.output]
