# Pigeon — `make run` serves (runtime dependencies only), `make test` runs every check. Both work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install states: serving needs only the runtime dependencies; every check
# (lint, types, tests, bench) adds the dev extras on top.
RUNTIME := $(VENV)/.installed-runtime
STAMP   := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean jsdeps jscheck jstest vendor-sdk

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

test: lint typecheck jscheck
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The standard benchmark set (under 10 minutes); results in bench-results/.
bench: $(STAMP)
	$(BIN)/pigeon bench --out bench-results

# The JavaScript SDK (sdk/js): npm deps from the committed lock when missing or stale, type
# check of its JSDoc, and its Node tests (also run by pytest: tests/integration/test_sdk_js.py).
# Without node/npm these skip with a message, unless PIGEON_REQUIRE_SERVICES=1.
SDK_JS   := sdk/js
JS_STAMP := $(SDK_JS)/node_modules/.package-lock.json
HAVE_NPM  = command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
NO_NPM    = if [ "$$PIGEON_REQUIRE_SERVICES" = 1 ]; then echo "node/npm missing (PIGEON_REQUIRE_SERVICES=1)"; exit 1; \
            else echo "skipping the JavaScript SDK: node/npm not installed"; fi

jsdeps:
	@if $(HAVE_NPM); then \
	  if [ ! -f $(JS_STAMP) ] || [ $(SDK_JS)/package-lock.json -nt $(JS_STAMP) ]; then \
	    cd $(SDK_JS) && npm ci --no-audit --no-fund; fi; \
	else $(NO_NPM); fi

jscheck: jsdeps
	@if $(HAVE_NPM); then cd $(SDK_JS) && node_modules/.bin/tsc -p . && echo "tsc: SDK types OK"; else $(NO_NPM); fi

jstest: jsdeps $(STAMP)
	cd $(SDK_JS) && PIGEON_PYTHON=$(abspath $(BIN)/python) node --test test/*.test.js

# Copy the SDK's browser and WeChat entries to where they are served (web client, example).
vendor-sdk:
	$(PYTHON) $(SDK_JS)/vendor.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(SDK_JS)/node_modules
