# Pigeon — `make run` serves (runtime dependencies only), `make test` runs every check. Both work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install states: serving needs only the runtime dependencies; every check
# (lint, types, tests, bench) adds the dev extras on top.
RUNTIME := $(VENV)/.installed-runtime
STAMP   := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean

# The pip that ships with Python >= 3.11 installs this project as it is; upgrading it
# first would only add a download to every fresh clone.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(RUNTIME)
	$(BIN)/pigeon serve

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The standard benchmark set (under 10 minutes); results in bench-results/.
bench: $(STAMP)
	$(BIN)/pigeon bench --out bench-results

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
