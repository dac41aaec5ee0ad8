# Everything runs from ./venv (the same virtualenv Pulumi.yaml names), created on first use.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: plan plan-prod test lint bench

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# This checkout, editable: `engarde-review` / `python -m review` from any directory.
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## plan: the dev stack rendered offline (resources, access matrix, service env)
plan: $(STAMP)
	$(PY) -m review plan --stack dev

## plan-prod: the prod stack rendered offline
plan-prod: $(STAMP)
	$(PY) -m review plan --stack prod

## test: the whole test suite (mocks and real PostgreSQL 15 / MariaDB servers)
test: $(STAMP)
	$(PY) -m pytest -q

## lint: ruff, mypy and actionlint
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	@if [ -d .github/workflows ]; then $(VENV)/bin/actionlint .github/workflows/*.yml; fi

## bench: program cost against the SDK floor, and the deployment's critical path
bench: $(STAMP)
	$(PY) benchmarks/program.py
