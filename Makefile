# pr-auditor — one entry point for people and CI. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Development interpreter: any Python 3.11+. Left empty, scripts/find-python takes `python3` when it is 3.11+,
# else the newest python3.1x on PATH; `make ... PYTHON=/path/to/python3.x` picks one. mypy and ruff target
# 3.11, the oldest supported version, whatever runs them.
PYTHON ?=
# The function's runtime (python3.13), for `sam build` and `make test-313`: left empty, scripts/find-python
# looks on PATH, in pyenv and in the usual install locations.
PY313  ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

# Hashed locks, both generated from pyproject.toml by `make lock` (uv pip compile --generate-hashes):
# the development environment (every extra, Python 3.11+ on any platform) and the Lambda layer (python3.13,
# aarch64 manylinux wheels), which `sam build` installs from.
DEV_LOCK   := requirements-dev.lock
LAYER_LOCK := layer/requirements.txt

# aws-sam-cli and checkov pin conflicting boto3 versions: each tool gets its own virtual environment.
SAM_VENV     := .venv-sam
CHECKOV_VENV := .venv-checkov
UV_VENV      := .venv-uv
SAM_VERSION     ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
UV_VERSION      ?= 0.13.9
# `make dist`: the build frontend, the build backend (the same setuptools as the development lock) and twine.
DIST_VENV := .venv-dist
BUILD_VERSION      ?= 1.6.1
TWINE_VERSION      ?= 7.0.0
SETUPTOOLS_VERSION ?= 84.2.1
SAM := $(CURDIR)/$(SAM_VENV)/bin/sam
UV  := $(UV_VENV)/bin/uv

# sam deploy: the samconfig.toml environment ([default], [dev], [prod], or one that a guided deploy adds).
ENV ?= default

export PYTHONDONTWRITEBYTECODE := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: help install lock demo test test-313 lint check validate build deploy deploy-check dist bench clean
help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP) $(NODE_STAMP)  ## venv + locked dev tools + the package (editable) + GitHub's published schema (npm)

# Only hashed, pinned packages go in; then the package itself, built by the locked setuptools without a
# network fetch (--no-build-isolation) and without resolving anything (--no-deps).
$(STAMP): pyproject.toml $(DEV_LOCK)
	@py="$$(scripts/find-python $(PYTHON))" || exit 1; \
	  echo "== $(VENV): $$("$$py" -V 2>&1) ($$py)"; "$$py" -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check || { echo "make: $(DEV_LOCK) does not satisfy pyproject.toml: run make lock" >&2; exit 1; }
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(UV_VENV)/.stamp:
	@py="$$(scripts/find-python $(PYTHON))" || exit 1; "$$py" -m venv --clear $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'
	touch $@

# Regenerates both locks from pyproject.toml, keeping the pins already in them where they still fit;
# `make lock UPGRADE=1` moves every pin to the newest allowed version. The layer is resolved inside the
# development lock's pins, so the tests run the versions the function ships.
LOCK_FLAGS := --quiet --generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(UV_VENV)/.stamp  ## regenerate the hashed locks (requirements-dev.lock, layer/requirements.txt) from pyproject.toml
	$(UV_VENV)/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
	  | $(UV) pip compile pyproject.toml - --all-extras --universal --python-version 3.11 $(LOCK_FLAGS) -o $(DEV_LOCK)
	$(UV) pip compile pyproject.toml --python-version 3.13 --python-platform aarch64-manylinux_2_28 \
	  -c $(DEV_LOCK) $(LOCK_FLAGS) -o $(LAYER_LOCK)
	@{ printf '%s\n' \
	  "# The function's runtime dependencies, pinned with hashes for the Lambda target (python3.13, arm64:" \
	  "# aarch64 manylinux wheels). \`make build\` (sam build) installs the layer from this file." \
	  "# Do not edit: \`make lock\` regenerates it from pyproject.toml [project].dependencies, and" \
	  "# tests/contract/test_template.py fails when the two disagree. boto3 is not listed: the runtime has it."; \
	  cat $(LAYER_LOCK); } > $(LAYER_LOCK).tmp && mv $(LAYER_LOCK).tmp $(LAYER_LOCK)
	@{ printf '%s\n' \
	  "# Development environment (the package's dependencies, every extra, and the build backend), pinned" \
	  "# with hashes for Python 3.11+ on any platform. \`make install\` installs it with --require-hashes." \
	  "# Do not edit: \`make lock\` regenerates it from pyproject.toml."; \
	  cat $(DEV_LOCK); } > $(DEV_LOCK).tmp && mv $(DEV_LOCK).tmp $(DEV_LOCK)

demo: install  ## the main job on local stand-ins: GitHub stand-in + moto, Lambda handler in-process
	PYTHONPATH=tests $(BIN)/python -m demo

test: install  ## unit, integration (stand-in over HTTP + moto) and contract tests
	$(BIN)/pytest -q

test-313:  ## the tests on python3.13, the function's runtime, in .venv-3.13
	@py="$$(scripts/find-python --exact 3.13 $(PY313))" || exit 1; \
	  $(MAKE) --no-print-directory test VENV=.venv-3.13 PYTHON="$$py"

lint: install  ## ruff, mypy strict on src/ and scripts/, cfn-lint on the template
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/mypy scripts/deploy.py scripts/preflight.py scripts/template_yaml.py
	$(BIN)/cfn-lint template.yaml

bench: install  ## requests, wall time, cold start and memory against a naive REST baseline; the report over 200,000 changes
	PYTHONPATH=tests $(BIN)/python -m bench

# --- tools in their own venvs ---
$(SAM_VENV)/.stamp:
	@py="$$(scripts/find-python $(PYTHON))" || exit 1; "$$py" -m venv --clear $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	touch $@

$(CHECKOV_VENV)/.stamp:
	@py="$$(scripts/find-python $(PYTHON))" || exit 1; "$$py" -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

# An sdist and a wheel of the package, in dist/, checked by twine (metadata, and the README as PyPI would render
# it). Built without isolation by the pinned setuptools, so nothing is resolved at build time. The package is
# not published: people install it from the clone (README, "Install the CLI").
$(DIST_VENV)/.stamp:
	@py="$$(scripts/find-python $(PYTHON))" || exit 1; "$$py" -m venv --clear $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install --quiet 'build==$(BUILD_VERSION)' 'twine==$(TWINE_VERSION)' \
	  'setuptools==$(SETUPTOOLS_VERSION)'
	touch $@

dist: $(DIST_VENV)/.stamp  ## sdist + wheel in dist/, checked with twine check --strict
	rm -rf dist build
	$(DIST_VENV)/bin/python -m build --no-isolation --outdir dist .
	$(DIST_VENV)/bin/twine check --strict dist/*

# `sam build` (no container) runs pip with the first python3.13 on PATH: a venv of the function's runtime
# guarantees it has pip. A bare symlink inside another venv would pick up that venv's pyvenv.cfg instead.
PY313_VENV := .venv-py313
$(PY313_VENV)/.stamp:
	@py="$$(scripts/find-python --exact 3.13 $(PY313))" || { \
	  echo "make: sam build installs the layer with the function's runtime, python3.13 (or run sam build --use-container, with Docker)." >&2; \
	  exit 1; }; \
	echo "== sam build uses $$py"; "$$py" -m venv --clear $(PY313_VENV)
	touch $@

# sam build downloads the layer's native wheels for aarch64 by name and version, without the lock's hashes
# (aws-lambda-builders' second pip pass). So the wheels are fetched first, hash-checked against the lock, for
# this machine and for aarch64, and sam build's pip may use only those (no index).
WHEELS := .aws-sam/wheels
# Lambda's code directory is read-only, so a module without bytecode is compiled from source at every cold
# start. The build ships it: compiled by the runtime's own version (the .pyc magic number must match), as
# unchecked-hash .pyc files, which the import system uses without comparing source timestamps (zip archives
# keep those only to two seconds). compileall writes them whatever PYTHONDONTWRITEBYTECODE says.
BUILT_CODE := .aws-sam/build/AuditorFunction .aws-sam/build/DependenciesLayer
LAYER_PLATFORMS := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64
build: $(SAM_VENV)/.stamp $(PY313_VENV)/.stamp  ## sam build: the function + its arm64 layer from the hashed lock
	@echo "== layer wheels, checked against the hashes in $(LAYER_LOCK)"
	rm -rf $(WHEELS)
	$(PY313_VENV)/bin/python -m pip download --quiet --require-hashes -r $(LAYER_LOCK) --dest $(WHEELS)
	$(PY313_VENV)/bin/python -m pip download --quiet --require-hashes -r $(LAYER_LOCK) --dest $(WHEELS) \
	  --only-binary=:all: $(LAYER_PLATFORMS) --implementation cp --python-version 3.13 --abi cp313
	@echo "== sam build (layer: arm64 wheels)"
	PATH="$(CURDIR)/$(PY313_VENV)/bin:$$PATH" PIP_NO_INDEX=1 PIP_FIND_LINKS="$(CURDIR)/$(WHEELS)" \
	  $(SAM) build --template template.yaml --build-dir .aws-sam/build --parallel
	@echo "== bytecode for python3.13 in the function and the layer (docs/cold-start.md)"
	$(PY313_VENV)/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash $(BUILT_CODE)

# The preflight (standard library only: any python3 3.11+, no venv) checks the parameters, the region, the
# credentials, Python 3.13 and Node, in that order, before anything is installed or built, and stops at the first
# failure with what to set. A missing parameter prints the samconfig.toml lines to add; GUIDED=1 (at a terminal)
# lets sam deploy --guided ask instead. DRY_RUN=1 prints the sam command instead of running it.
PREFLIGHT = py="$$(scripts/find-python $(PYTHON))" && "$$py" scripts/preflight.py --config-env $(ENV) \
  $(if $(PY313),--py313 "$(PY313)") $(if $(GUIDED),--guided)

deploy-check:  ## the deploy preflight alone: parameters, region, credentials, Python 3.13, Node (installs nothing)
	@$(PREFLIGHT)

deploy:  ## preflight, then install, sam build, sam deploy --config-env ENV (default; ENV=dev is the trial)
	@$(PREFLIGHT)
	@$(MAKE) --no-print-directory install build
	$(BIN)/python scripts/deploy.py --config-env $(ENV) --sam "$(SAM)" $(if $(DRY_RUN),--dry-run) $(if $(GUIDED),--guided)

SAM_ENV := AWS_DEFAULT_REGION=eu-west-1
validate: install build $(CHECKOV_VENV)/.stamp  ## cfn-lint, sam validate --lint, sam build, checkov
	@echo "== cfn-lint"; time $(BIN)/cfn-lint template.yaml
	@echo "== sam validate --lint"; time $(SAM_ENV) $(SAM) validate --lint --template template.yaml
	@echo "== the built layer: aarch64 native code, exactly the locked versions"; time REQUIRE_SAM_BUILD=1 \
	  $(BIN)/pytest -q -p no:cacheprovider tests/contract/test_template.py -k built_layer
	@echo "== checkov"; time $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

check: lint test validate  ## the whole gate, as CI runs it (.ci/run also runs test-313 and demo)

clean:
	rm -rf $(VENV) .venv-3.13 $(SAM_VENV) $(CHECKOV_VENV) $(UV_VENV) $(PY313_VENV) $(DIST_VENV) dist build node_modules .aws-sam .mypy_cache .ruff_cache .pytest_cache
