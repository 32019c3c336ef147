# Two commands on a fresh machine: `make reproduce` (install + run the study), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 8

.PHONY: install reproduce offline demo test lint report bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

reproduce: install  ## download everything and run the whole study (needs the internet)
	$(BIN)/snakemake --cores $(CORES)

offline: install    ## the whole study from the real files in ../shared/data/real
	$(BIN)/snakemake --cores $(CORES) --configfile config/offline.yaml

demo: install       ## the small synthetic world in .test/ (offline, seconds)
	$(BIN)/python .test/make_synthetic.py .test
	$(BIN)/snakemake --cores 2 --directory .test --snakefile Snakefile

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check scripts tests .test
	$(BIN)/snakemake --lint

report: install
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

bench: install      ## global-scale SYNTHETIC benchmarks (prints figures; several minutes)
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/bench_sensitivity.py
	$(BIN)/python bench/bench_baci.py

clean:
	rm -rf resources/raw resources/clean resources/mfa resources/quality resources/sensitivity results logs benchmarks
