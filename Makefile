# Every target does its own set-up: a fresh clone needs nothing but `make demo` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
NODE_STAMP := shared-js/node_modules/.installed-$(shell cat shared-js/package-lock.json | sha1sum | cut -c1-12)
SYSTEM_STAMP := $(VENV)/.system-packages-$(shell sha1sum tools/install-system-packages.sh | cut -c1-12)
# make stack-up SIDECARS=2: Redis, two sidecars and nginx in front (BACKEND=redis: even for one)
SIDECARS ?= 1
BACKEND ?=

.PHONY: help setup test check lint-php test-js test-py bench soak demo serve stack-up stack-down clean

help:
	@echo "make demo        start WordPress + sidecar locally and import the sample export"
	@echo "make test        every check: ruff, mypy, pytest (unit, integration, WordPress, browser), JS, PHP lint"
	@echo "make check       ruff + mypy"
	@echo "make bench       benchmarks; prints a table and writes bench/RESULTS.md"
	@echo "make soak        the longer load, fault and fuzz runs"
	@echo "make serve       run the sidecar in the foreground"
	@echo "make stack-up / stack-down   the local stack on its own"
	@echo "make stack-up SIDECARS=2      the same with Redis, two sidecars and nginx in front"

setup: $(STAMP) $(NODE_STAMP) $(SYSTEM_STAMP)

$(SYSTEM_STAMP):
	bash tools/install-system-packages.sh
	@mkdir -p $(VENV) && rm -f $(VENV)/.system-packages* && touch $@

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): $(SYSTEM_STAMP)
	cd shared-js && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

lint-php: setup
	sh wp-plugin/lint.sh

test-js: setup
	cd shared-js && npm test && npm run typecheck

# Each worker has its own stack, Redis and fake Apify (session fixtures); a test file
# stays in one worker (--dist loadfile), so a module's shared state stays its own.
PYTEST_WORKERS ?= 3
test-py: setup
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: check lint-php test-js test-py

bench: setup
	$(PY) -m bench

soak: setup
	$(PY) -m bench --soak
	$(VENV)/bin/pytest -m slow --run-slow tests

serve: setup
	$(VENV)/bin/igbridge serve

stack-up: setup
	$(PY) -m dev.stack up --sidecars $(SIDECARS) $(if $(BACKEND),--backend $(BACKEND))

stack-down:
	@test -x $(PY) && $(PY) -m dev.stack down || true

demo: setup
	$(PY) -m dev.demo

clean: stack-down
	rm -rf $(VENV) shared-js/node_modules .devstack .pytest_cache .mypy_cache .ruff_cache
