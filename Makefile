# Two commands on a fresh machine: `make reproduce` (install + run the study), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 8

.PHONY: install reproduce offline demo test lint report bench mutation clean update test-slurm install-slurm

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# Bytecode for the editable package too (pip compiles only what it copies): every job imports
	# reeflow afresh, and compiling its modules costs a job 30-50 ms when no .pyc can be written.
	$(BIN)/python -m compileall -q scripts/reeflow
	touch $@

# SNAKEMAKE_ARGS: extra options, e.g. a BACI mirror: make reproduce SNAKEMAKE_ARGS="--config 'baci={url: ...}'"
SNAKEMAKE_ARGS ?=

reproduce: install  ## download everything and run the whole study (needs the internet)
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

# Ask each source what it revised since the cached copy and refresh only that (not part of `all`);
# the next `make reproduce` reruns the refreshed years and writes results/updates/ (README, "Updating").
update: install     ## refetch only what Comtrade revised (one availability call); report BACI/USGS changes
	$(BIN)/snakemake --cores 1 update

offline: install    ## the whole study from the real files in ../shared/data/real
	$(BIN)/snakemake --cores $(CORES) --configfile config/offline.yaml

demo: install       ## the small synthetic world in .test/ (offline, seconds)
	$(BIN)/python .test/make_synthetic.py .test
	$(BIN)/snakemake --cores 2 --directory .test --snakefile Snakefile

test: install
	$(BIN)/python -m pytest

# The .test/ demo on a single-node SLURM brought up on this machine (tests/slurm/; needs root and the
# Debian packages slurm-wlm and munge); checks the jobs ran as SLURM jobs and match a local run.
install-slurm: $(VENV)/.slurm-installed

$(VENV)/.slurm-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,slurm]"
	touch $@

test-slurm: install install-slurm  ## the demo through profiles/slurm on a real single-node SLURM (2-4 min)
	$(BIN)/python tests/slurm/run_slurm_check.py

lint: install
	$(BIN)/ruff check scripts tests .test
	$(BIN)/snakemake --lint

report: install
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

bench: install      ## global-scale SYNTHETIC benchmarks (prints figures; several minutes)
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/bench_sensitivity.py
	$(BIN)/python bench/bench_baci.py

# Mutation testing of the science modules with mutmut (docs/mutation.md); slow, not in CI.
# MUTATION_SAMPLE='*__mutmut_*3' checks a deterministic ~1/10 sample (the mutants numbered 3, 13, 23... per function).
MUTATION_JOBS ?= 2
MUTATION_SAMPLE ?=
ABSBIN := $(abspath $(BIN))

$(VENV)/.mutation-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,mutation]"
	touch $@

mutation: install $(VENV)/.mutation-installed  ## mutation score of reconcile, MFA balance, tracing, sensitivity, indicators
	rm -rf .mutation/mutants
	mkdir -p .mutation
	cd .mutation && ln -sfn ../scripts src && ln -sfn ../tests tests && ln -sfn ../config config \
		&& ln -sfn ../pyproject.toml pyproject.toml && ln -sfn ../../shared shared
	cd .mutation && $(ABSBIN)/mutmut run --max-children $(MUTATION_JOBS) $(if $(MUTATION_SAMPLE),'$(MUTATION_SAMPLE)')
	$(BIN)/python bench/mutation_score.py --mutants .mutation/mutants $(if $(MUTATION_SAMPLE),--sample '$(MUTATION_SAMPLE)') --survivors

clean:
	rm -rf resources/raw resources/clean resources/mfa resources/quality resources/sensitivity results logs benchmarks
