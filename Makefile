# tmsbench: two commands on a fresh machine
#   make demo  - the bench suite on the simulated bench (the embedded default)
#   make test  - the project's whole test suite (lint + unit + integration)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RESULTS ?= results

.PHONY: venv demo test lint bench-perf clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# Lint, then the layer contracts (import-linter) and the type checker, before any test.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# pytest exits 5 when it collected no test: report it instead of failing the job.
test: lint
	$(BIN)/pytest tests/unit tests/integration; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

# The bench suite on the simulated bench (no --bench: the plugin starts the simulator).
demo: $(STAMP)
	$(BIN)/pytest tests/bench -p no:cacheprovider --results $(RESULTS) --junitxml=$(RESULTS)/junit.xml

bench-perf: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(RESULTS)
