# Supply shocks (issue #17): per year, shocks that propagate down the stages and reroute to spare
# exports, on the actual network and on counterfactuals without the US-China links
# (resources/shocks/{year}/); then the tables across years, two figures and their report section.
# A year's job reads only that year's MFA tables, so a revised year reruns one shocks_year job.

from reeflow.smk import ShockSettings, setting_keys, shock_figure_scenario  # noqa: E402

SHOCKS = config["shocks"]  # defaults filled by the schema (Snakefile validate)
# The parts of config shocks the model uses (the figure keys only matter to the figures).
SHOCK_PARAMS = {key: SHOCKS[key] for key in setting_keys(ShockSettings)}
SHOCK_YEAR_PATHS = {
    name: expand(f"resources/shocks/{{year}}/{name}.parquet", year=YEARS) for name in ("shocks", "stabilisation")
}


rule shocks_year:
    message:
        "Shocks {wildcards.year}: first-order, propagated and rerouted shortfalls; stabilisation"
    input:
        balance="resources/mfa/{year}/balance.parquet",
        flows="resources/mfa/{year}/flows.parquet",
    output:
        shocks="resources/shocks/{year}/shocks.parquet",
        stabilisation="resources/shocks/{year}/stabilisation.parquet",
    params:
        code=script_code("shocks/shocks_year.py"),
        shocks=SHOCK_PARAMS,
    log:
        "logs/shocks/shocks_{year}.log",
    benchmark:
        "benchmarks/shocks/shocks_{year}.tsv"
    priority: PRIORITY["shocks_year"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        ENV
    script:
        "../../scripts/shocks/shocks_year.py"


rule collect_shocks:
    message:
        "Shocks: shortfall and stabilisation tables across years"
    input:
        shocks=SHOCK_YEAR_PATHS["shocks"],
        stabilisation=SHOCK_YEAR_PATHS["stabilisation"],
    output:
        shocks="results/tables/shocks.csv",
        stabilisation=report(
            "results/tables/stabilisation.csv",
            caption="../report/shocks_table.rst",
            category="Supply shocks",
            labels={"item": "Stabilisation by year (table)"},
        ),
    params:
        code=script_code("shocks/collect_shocks.py"),
    log:
        "logs/shocks/collect_shocks.log",
    benchmark:
        "benchmarks/shocks/collect_shocks.tsv"
    priority: PRIORITY["collect_shocks"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/shocks/collect_shocks.py"


rule fig_shocks:
    message:
        "Figure: supply shortfalls by country and scenario over the years; stabilisation"
    input:
        shocks="results/tables/shocks.csv",
        stabilisation="results/tables/stabilisation.csv",
    output:
        png=report(
            "results/figures/fig_shocks.png",
            caption="../report/shocks.rst",
            category="Supply shocks",
            labels={"item": "Shortfalls and stabilisation over the years"},
        ),
        svg="results/figures/fig_shocks.svg",
    params:
        code=script_code("shocks/plot_shocks.py"),
        source=FIGURE_SOURCE,
        countries=SHOCKS["figure_countries"],
    log:
        "logs/figures/fig_shocks.log",
    benchmark:
        "benchmarks/figures/fig_shocks.tsv"
    priority: PRIORITY["fig_shocks"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/shocks/plot_shocks.py"


rule fig_shock_network:
    message:
        "Figure: the shock {params.scenario[name]} drawn on the trade network"
    input:
        flows="results/mfa/flows.parquet",
        balance="results/mfa/balance.parquet",
        shocks="results/tables/shocks.csv",
    output:
        png=report(
            "results/figures/fig_shock_network.png",
            caption="../report/fig_shock_network.rst",
            category="Supply shocks",
            labels={"item": "One shock on the network"},
        ),
        svg="results/figures/fig_shock_network.svg",
    params:
        code=script_code("shocks/plot_shock_network.py"),
        source=FIGURE_SOURCE,
        year=SHOCKS["figure_year"],
        scenario=shock_figure_scenario(SHOCKS),
        max_nodes=FIGURES["network_max_nodes"],
    log:
        "logs/figures/fig_shock_network.log",
    benchmark:
        "benchmarks/figures/fig_shock_network.tsv"
    priority: PRIORITY["fig_shock_network"]
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../../scripts/shocks/plot_shock_network.py"


TARGETS += [rules.collect_shocks.output, rules.fig_shocks.output, rules.fig_shock_network.output]
