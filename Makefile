# The commands the README names. Every target installs what it needs first, once: a second run skips what is
# already installed (stamp files are remade when the lock they were installed from changes).
#
#   make synth   the main job: set up, then `cdk synth` into cdk.out and list each stack with its resources
#   make test    set up, then the whole test suite (no AWS account, no network)
#   make local   (optional) deploy every stack into a local moto server and run the worked example offline
#   make verify-iam  every call the pipelines make, evaluated offline against the synthesized IAM policies
#
# Extra context for synth/deploy/destroy/diff: make synth CONTEXT="-c profile=production"

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
CONTEXT ?=
STACKS ?= --all

# Offline and quiet: no notices fetch and no telemetry from the CDK CLI; jsii's end-of-life banner for the
# Node major version in use is silenced (the value names the major version it applies to).
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
CDK_FLAGS := --no-notices

.PHONY: help setup setup-dev check-env lock upgrade synth test test-slow verify-iam lint format bench bench-local local leftovers default-model tradeoffs bootstrap deploy destroy restore-endpoint diff docs-config docs-costs clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required, found " + sys.version.split()[0])'
	@echo "==> creating the virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)

# Python packages come from the hashed locks only (--require-hashes --no-deps): the whole graph is pinned, so a
# fresh install today and next month are the same. A stamp is older than its lock when the lock changed, and
# the packages are installed again. pyspark ships only an sdist: the build backend comes from its own lock and
# the dev set is installed without build isolation, so no unpinned setuptools is fetched to build it.
PIP_INSTALL := $(PY) -m pip install --progress-bar on --require-hashes --no-deps

$(VENV)/.runtime-installed: requirements.lock | $(VENV)/bin/python
	@echo "==> installing Python runtime dependencies (requirements.lock)"
	$(PIP_INSTALL) -r requirements.lock
	@touch $@

$(VENV)/.dev-installed: requirements-dev.lock requirements-build.lock | $(VENV)/bin/python
	@echo "==> installing Python dev dependencies (requirements-build.lock, then requirements-dev.lock)"
	$(PIP_INSTALL) -r requirements-build.lock
	$(PIP_INSTALL) --no-build-isolation -r requirements-dev.lock
	$(PY) -m tools.check_env --prune
	@touch $@ $(VENV)/.runtime-installed

node_modules/.installed: package.json package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { echo "Node >= 20 is required"; exit 1; }
	@echo "==> installing the pinned npm tools: CDK CLI, IAM policy simulator (package-lock.json)"
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

setup: $(VENV)/.runtime-installed node_modules/.installed ## create the venv, install runtime and npm dependencies

setup-dev: $(VENV)/.dev-installed node_modules/.installed ## setup plus test and lint dependencies

synth: setup ## synthesize every stack into cdk.out and list them with their resource counts
	@echo "==> cdk synth (nag checks run during synthesis)"
	$(CDK) synth $(CDK_FLAGS) --quiet $(CONTEXT)
	@$(PY) tools/synth_summary.py cdk.out

check-env: setup-dev ## prove the venv equals the locks (pip check, then every package against the lock)
	$(PY) -m pip check
	$(PY) -m tools.check_env

# uv compiles one universal lock (Linux, macOS, every Python >= 3.11, with markers) from the top-level
# requirements; an existing lock's versions are kept unless --upgrade. The dev lock is compiled first and the
# runtime and build locks are constrained by it, so the three agree on every shared package.
UV_COMPILE := $(VENV)/bin/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet

lock: setup-dev ## recompile the locks from requirements*.txt, keeping the locked versions where still allowed
	$(UV_COMPILE) $(UPGRADE) --custom-compile-command "make lock" requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) --custom-compile-command "make lock" requirements.txt -c requirements-dev.lock -o requirements.lock
	$(UV_COMPILE) $(UPGRADE) --custom-compile-command "make lock" requirements-build.txt -c requirements-dev.lock -o requirements-build.lock

upgrade: ## move the locks to the newest releases requirements*.txt allow, reinstall, then run the tests
	$(MAKE) lock UPGRADE=--upgrade
	$(MAKE) check-env test

test: setup-dev ## run the whole test suite, offline
	@$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no test: that is a failure here"; exit $$rc; }

test-slow: setup-dev ## the slower checks the default run leaves out (10,000-event parity, lower-bound config, leakage per method, trade-offs replay)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# Real signals sent to real `make local` runs, one full run per stage (producer, Spark ETL, training, endpoint,
# drift, destroy, --keep-running): several minutes, so the default run leaves them out (tests/local/conftest.py).
.PHONY: test-interrupts
test-interrupts: setup-dev ## `make local` interrupted at each stage by SIGINT/SIGTERM (slow: one full run per stage)
	$(PY) -m pytest tests/local -m interrupts $(PYTEST_ARGS)

# Synthesizes four variants (sandbox, production, tuning, Model Monitor) and evaluates every declared call and every
# call recorded from our own code (IAM_RECORDED, refreshed by make local LOCAL_ARGS="--record-iam $(IAM_RECORDED)");
# exit 1 on any denied call. IAM_ARGS=--mutations also deletes each granting statement in turn and expects the
# check to deny the calls it granted (docs/iam-check.md).
IAM_RECORDED ?= tools/iam/recorded/sandbox.jsonl
verify-iam: setup-dev ## offline IAM check: denied calls, unused grants, four variants (IAM_ARGS=--mutations)
	$(PY) -m tools.iam --recorded $(IAM_RECORDED) $(IAM_ARGS)

lint: setup-dev ## ruff (lint and format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup-dev ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: setup-dev ## benchmarks: synth time against an empty App, test-suite time
	$(PY) -m bench.bench_synth

bench-local: setup-dev ## benchmark `make local`: wall time and peak memory of the whole process tree
	$(PY) -m bench.bench_local $(LOCAL_ARGS)

local: setup-dev ## deploy every stack into a local moto server and run the worked example, offline (LOCAL_ARGS=--events N)
	$(PY) -m local_sandbox $(LOCAL_ARGS)

leftovers: setup ## list what the project left in the account (tags and name prefixes); non-zero exit if anything remains
	$(PY) -m tools.leftovers $(LEFTOVERS_ARGS)

tradeoffs: setup-dev ## measure the ETL's data-preparation alternatives (several minutes) and write docs/data-prep-tradeoffs.md
	$(PY) -m tools.tradeoffs $(TRADEOFFS_ARGS)

default-model: setup-dev ## rebuild the endpoint's default model and baseline (ml_constructs/serving/default_model)
	$(PY) -m tools.build_default_model

docs-config: setup ## regenerate docs/configuration.md from the config models
	$(PY) -m tools.gen_config_docs > docs/configuration.md

docs-costs: setup ## regenerate the cost tables in docs/costs.md from the config and the price table
	$(PY) -m tools.costs --write

bootstrap: setup ## cdk bootstrap the account and region of your credentials (once)
	$(CDK) bootstrap $(CDK_FLAGS) $(CONTEXT)

deploy: setup ## deploy (STACKS=--all by default) to the account and region of your credentials
	$(CDK) deploy $(CDK_FLAGS) $(STACKS) $(CONTEXT)

destroy: setup ## destroy (STACKS=--all by default); sandbox leaves nothing behind
	$(CDK) destroy $(CDK_FLAGS) $(STACKS) $(CONTEXT)

restore-endpoint: setup ## bring back the endpoint the idle-endpoint guard deleted (docs/runbook.md); PREFIX=mlspec
	$(PY) -m tools.restore_endpoint --prefix $(or $(PREFIX),mlspec)

diff: setup ## cdk diff against the deployed stacks
	$(CDK) diff $(CDK_FLAGS) $(STACKS) $(CONTEXT)

clean: ## remove build output (keeps the venv and node_modules)
	rm -rf cdk.out cdk.local.out .pytest_cache .mypy_cache .ruff_cache
