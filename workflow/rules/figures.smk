# Figures: one rule per figure, PNG (300 dpi, shown in the report) and SVG (for print), one theme.
# Every figure copes with empty or sparse inputs (a "no data for ..." panel), so a keyless run with
# two reporters still produces every figure.


FIGURES = config["figures"]
# Printed under every figure: data sources, package version and the mirror rule behind the numbers.
FIGURE_SOURCE = source_line(
    TRADE["source"], config["trade"]["mirror_rule"]
)
FIGURE_NAMES = [
    "fig_net_trade",
    "fig_sankey",
    "fig_bilateral",
    "fig_origins",
    "fig_network",
    "fig_sensitivity",
    "fig_quality",
    "fig_stocks",
]


rule fig_net_trade:
    message:
        "Figure: US and China net rare-earth trade by stage, with uncertainty bands"
    input:
        balance="results/mfa/balance.parquet",
        uncertainty="results/tables/headline_uncertainty.csv",
    output:
        png=report(
            "results/figures/fig_net_trade.png",
            caption="../report/fig_net_trade.rst",
            category="Trade",
            labels={"figure": "Net trade of the US and China by stage"},
        ),
        svg="results/figures/fig_net_trade.svg",
    params:
        code=script_code("report/plot_net_trade.py"),
        source=FIGURE_SOURCE,
    log:
        "logs/figures/fig_net_trade.log",
    benchmark:
        "benchmarks/figures/fig_net_trade.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_net_trade.py"


rule fig_sankey:
    message:
        "Figure: Sankey diagram of global flows through the stages, years {params.years}"
    input:
        flows="results/mfa/flows.parquet",
        balance="results/mfa/balance.parquet",
    output:
        png=report(
            "results/figures/fig_sankey.png",
            caption="../report/fig_sankey.rst",
            category="Supply chain",
            labels={"figure": "Sankey diagram of global flows"},
        ),
        svg="results/figures/fig_sankey.svg",
    params:
        code=script_code("report/plot_sankey.py"),
        source=FIGURE_SOURCE,
        years=FIGURES["sankey_years"],
    log:
        "logs/figures/fig_sankey.log",
    benchmark:
        "benchmarks/figures/fig_sankey.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_sankey.py"


rule fig_bilateral:
    message:
        "Figure: US-China bilateral flows by stage and direction"
    input:
        flows="results/mfa/flows.parquet",
    output:
        png=report(
            "results/figures/fig_bilateral.png",
            caption="../report/fig_bilateral.rst",
            category="Trade",
            labels={"figure": "US-China bilateral flows"},
        ),
        svg="results/figures/fig_bilateral.svg",
    params:
        code=script_code("report/plot_bilateral.py"),
        source=FIGURE_SOURCE,
    log:
        "logs/figures/fig_bilateral.log",
    benchmark:
        "benchmarks/figures/fig_bilateral.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_bilateral.py"


rule fig_origins:
    message:
        "Figure: mine origin of the final-stage supply of {params.countries}"
    input:
        origins="results/mfa/origins.parquet",
    output:
        png=report(
            "results/figures/fig_origins.png",
            caption="../report/fig_origins.rst",
            category="Supply chain",
            labels={"figure": "Mine origin of final-stage supply"},
        ),
        svg="results/figures/fig_origins.svg",
    params:
        code=script_code("report/plot_origins.py"),
        source=FIGURE_SOURCE,
        countries=FIGURES["origin_countries"],
    log:
        "logs/figures/fig_origins.log",
    benchmark:
        "benchmarks/figures/fig_origins.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_origins.py"


rule fig_network:
    message:
        "Figure: trade networks, years {params.years}"
    input:
        flows="results/mfa/flows.parquet",
        balance="results/mfa/balance.parquet",
    output:
        png=report(
            "results/figures/fig_network.png",
            caption="../report/fig_network.rst",
            category="Trade",
            labels={"figure": "Trade network"},
        ),
        svg="results/figures/fig_network.svg",
    params:
        code=script_code("report/plot_network.py"),
        source=FIGURE_SOURCE,
        years=FIGURES["network_years"],
        max_nodes=FIGURES["network_max_nodes"],
    log:
        "logs/figures/fig_network.log",
    benchmark:
        "benchmarks/figures/fig_network.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_network.py"


rule fig_sensitivity:
    message:
        "Figure: one-at-a-time (tornado) and Sobol sensitivity of {params.indicator}"
    input:
        oat="results/sensitivity/oat.csv",
        sobol="results/sensitivity/sobol.csv",
    output:
        png=report(
            "results/figures/fig_sensitivity.png",
            caption="../report/fig_sensitivity.rst",
            category="Uncertainty",
            labels={"figure": "Sensitivity: tornado and Sobol indices"},
        ),
        svg="results/figures/fig_sensitivity.svg",
    params:
        code=script_code("report/plot_sensitivity.py"),
        source=FIGURE_SOURCE,
        indicator=FIGURES["sensitivity_indicator"],
    log:
        "logs/figures/fig_sensitivity.log",
    benchmark:
        "benchmarks/figures/fig_sensitivity.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_sensitivity.py"


rule fig_quality:
    message:
        "Figure: data quality (reporter coverage and mirror discrepancies)"
    input:
        coverage="results/quality/coverage.csv",
        discrepancies="results/quality/mirror_discrepancies.csv",
    output:
        png=report(
            "results/figures/fig_quality.png",
            caption="../report/fig_quality.rst",
            category="Data quality",
            labels={"figure": "Coverage and mirror discrepancies"},
        ),
        svg="results/figures/fig_quality.svg",
    params:
        code=script_code("report/plot_quality.py"),
        source=FIGURE_SOURCE,
        factor=config["trade"]["discrepancy_factor"],
    log:
        "logs/figures/fig_quality.log",
    benchmark:
        "benchmarks/figures/fig_quality.tsv"
    priority: PRIORITY["fig_quality"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_quality.py"


rule fig_stocks:
    message:
        "Figure: in-use stocks and end-of-life flows"
    input:
        stocks="results/mfa/stocks.parquet",
    output:
        png=report(
            "results/figures/fig_stocks.png",
            caption="../report/fig_stocks.rst",
            category="Stocks",
            labels={"figure": "In-use stocks and end-of-life flows"},
        ),
        svg="results/figures/fig_stocks.svg",
    params:
        code=script_code("report/plot_stocks.py"),
        source=FIGURE_SOURCE,
    log:
        "logs/figures/fig_stocks.log",
    benchmark:
        "benchmarks/figures/fig_stocks.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/report/plot_stocks.py"


rule figures:
    message:
        "All figures are in results/figures/"
    input:
        expand("results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=["png", "svg"]),


TARGETS += [rules.figures.input]
