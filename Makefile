# pr-auditor — one entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

# aws-sam-cli and checkov pin conflicting boto3 versions: each gets its own virtual environment.
SAM_VENV     := .venv-sam
CHECKOV_VENV := .venv-checkov
SAM_VERSION     ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
# `sam build` without a container needs the function's runtime interpreter on PATH (python3.13).
PY313 ?= $(shell command -v python3.13 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n1)

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo test lint check validate bench clean
help:  ## list targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP) $(NODE_STAMP)  ## venv + package + dev tools + GitHub's published schema (npm)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install  ## the main job on local stand-ins: GitHub stand-in + moto, Lambda handler in-process
	PYTHONPATH=tests $(BIN)/python -m demo

test: install  ## unit, integration (stand-in over HTTP + moto) and contract tests
	$(BIN)/pytest -q

lint: install  ## ruff, mypy strict on src/, cfn-lint on the template
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

bench: install  ## requests, wall time, cold start and memory against a naive REST baseline; the report over 200,000 changes
	PYTHONPATH=tests $(BIN)/python -m bench

# --- template validation (sam validate --lint, sam build, checkov), each tool in its own venv ---
$(SAM_VENV)/.stamp:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	touch $@

$(CHECKOV_VENV)/.stamp:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

# `sam build` (no container) runs pip with the first python3.13 on PATH: a venv of the function's runtime
# guarantees it has pip. A bare symlink inside another venv would pick up that venv's pyvenv.cfg instead.
# The pyenv shim is skipped unless 3.13 is its active version (the check runs each candidate).
PY313_VENV := .venv-py313
$(PY313_VENV)/.stamp:
	@py=""; for c in "$(PY313)" $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	  if [ -x "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then py="$$c"; break; fi; \
	done; \
	test -n "$$py" || { echo "sam build needs python3.13 (the function runtime) and none was found"; exit 1; }; \
	echo "sam build uses $$py"; "$$py" -m venv --clear $(PY313_VENV)
	touch $@

SAM_ENV := AWS_DEFAULT_REGION=eu-west-1 SAM_CLI_TELEMETRY=0
validate: install $(SAM_VENV)/.stamp $(CHECKOV_VENV)/.stamp $(PY313_VENV)/.stamp  ## cfn-lint, sam validate --lint, sam build, checkov
	@echo "== cfn-lint"; time $(BIN)/cfn-lint template.yaml
	@echo "== sam validate --lint"; time $(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	@echo "== sam build (layer: arm64 wheels)"; time PATH="$(CURDIR)/$(PY313_VENV)/bin:$$PATH" $(SAM_ENV) \
	  $(SAM_VENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build --parallel
	@echo "== layer native code is aarch64"; time REQUIRE_SAM_BUILD=1 $(BIN)/pytest -q -p no:cacheprovider \
	  tests/contract/test_template.py -k built_layer
	@echo "== checkov"; time $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

check: lint test validate  ## the whole gate, as CI runs it

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(PY313_VENV) node_modules .aws-sam .mypy_cache .ruff_cache .pytest_cache
