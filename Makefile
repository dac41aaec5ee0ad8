# Everything runs from ./venv (the same virtualenv Pulumi.yaml names), created on first use from the
# locks: requirements-dev.txt holds every package the stack, the tests and the tools need, pinned with
# hashes (requirements.txt is the stack's part of it, which `pulumi install` reads).
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The locks' target: this project's machines and CI (Linux x86_64, CPython 3.11).
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: deps venv lock plan plan-prod test test-matrix lint bench toolchain e2e e2e-engine bench-deploy \
	docker-engine images e2e-docker stress schema

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	# This checkout, editable: `engarde-review` / `python -m review` from any directory. Its build backend
	# (setuptools) is the locked one in the venv, not a fresh download.
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

## venv: ./venv from the locks (every other target makes it first)
venv: $(STAMP)

## deps: every prerequisite of `make test` and the end-to-end suites (system packages, PostgreSQL 17,
## Langflow's test build, ./venv, the Go-built toolchain); runs nothing else
deps:
	scripts/deps

## lock: recompile the locks from the .in files after a requirement changes; UPGRADE=1 moves every
## package to the newest version its requirements allow
lock: $(STAMP)
	$(LOCK) requirements-dev.in -o requirements-dev.txt
	$(LOCK) -c requirements-dev.txt requirements.in -o requirements.txt
	$(LOCK) -c requirements-dev.txt policy/requirements.in -o policy/requirements.txt
	$(LOCK) images/langflow/requirements.in -o images/langflow/requirements.txt
	$(LOCK) images/service-standin/requirements.in -o images/service-standin/requirements.txt

## plan: the dev stack rendered offline (resources, access matrix, service env)
plan: $(STAMP)
	$(PY) -m review plan --stack dev

## plan-prod: the prod stack rendered offline
plan-prod: $(STAMP)
	$(PY) -m review plan --stack prod

## test: the whole test suite (mocks; real MariaDB and PostgreSQL 15 and 17 servers, as CI runs it).
## The real-server tests (half waiting on the servers) run alongside the others; their report follows.
test: $(STAMP)
	@log=$$(mktemp); \
	$(PY) -m pytest -q tests/realdb > "$$log" 2>&1 & realdb=$$!; \
	trap 'kill $$realdb 2>/dev/null; rm -f "$$log"' INT TERM; \
	$(PY) -m pytest -q --ignore=tests/realdb --ignore=tests/e2e --ignore=tests/e2e_docker --ignore=tests/stress; mocks=$$?; \
	wait $$realdb; servers=$$?; \
	echo "--- tests/realdb (ran alongside):"; cat "$$log"; rm -f "$$log"; \
	[ $$mocks -eq 0 ] && [ $$servers -eq 0 ]

## test-matrix: the real-server tests on PostgreSQL 15, 16, 17 and 18, each with a superuser and a managed admin
test-matrix: $(STAMP)
	$(PY) -m tests.realdb.postgres_builds 16 17 18
	ENGARDE_PG_VERSIONS=15,16,17,18 ENGARDE_ADMIN_KINDS=superuser,managed $(PY) -m pytest -q tests/realdb

## schema: docs/stack-config.schema.json, the stack file's JSON Schema for editors, from the config models
schema: $(STAMP)
	$(PY) -m review schema --out docs/stack-config.schema.json

## lint: ruff, mypy and actionlint
lint: $(STAMP)
	$(VENV)/bin/ruff check . scripts/images
	$(VENV)/bin/ruff format --check . scripts/images
	$(VENV)/bin/mypy .
	$(VENV)/bin/mypy scripts/images
	@if [ -d .github/workflows ]; then $(VENV)/bin/actionlint .github/workflows/*.yml; fi

## bench: program cost against the SDK floor, and the deployment's critical path
bench: $(STAMP)
	$(PY) benchmarks/program.py

## toolchain: the Pulumi CLI, its Python language host and the random and docker providers, built from Go modules
## into $(ENGARDE_TOOLCHAIN_DIR) (default /var/cache/engarde-toolchain); a second run takes seconds
toolchain: $(STAMP)
	$(PY) toolchain/build.py

## e2e: the stack through the real engine and providers against real servers (needs the postgresql
## and mysql plugins in the toolchain's bin/: docs/real-engine.md; the scheduler on MariaDB 10.5's image)
e2e: $(STAMP) images
	$(PY) toolchain/build.py --check
	$(PY) -m pytest -q tests/e2e

## e2e-engine: the real-engine tests that need only what `make toolchain` builds (CI runs them)
e2e-engine: $(STAMP)
	$(PY) -m pytest -q tests/e2e/test_dynamic_provider.py tests/e2e/test_config_reading.py \
	  "tests/e2e/test_plugin_schemas.py::test_the_plugin_schema_matches_the_sdk_for_every_resource_the_program_uses[random]" \
	  "tests/e2e/test_plugin_schemas.py::test_the_plugin_schema_matches_the_sdk_for_every_resource_the_program_uses[docker]" \
	  "tests/e2e/test_plugin_schemas.py::test_the_plugin_schema_matches_the_sdk_for_every_nested_type_the_program_uses[docker]"

## bench-deploy: up, no-change up, preview and destroy through the real engine, beside Terraform on the same
## provider and resources and psql's floor, N = 0, 20, 60, the median of 3 (about 25 minutes)
bench-deploy: $(STAMP)
	$(PY) toolchain/build.py --check
	$(PY) benchmarks/deploy.py --runs 3

## stress: the stack with 20 services applied from nothing ten times on PostgreSQL 15 and 17, each with a superuser
## and a managed admin: no grant deadlock (components/ordering.py; about 20 minutes)
stress: $(STAMP)
	$(PY) toolchain/build.py --check
	$(PY) -m pytest -q tests/stress

## docker-engine: the project's own Docker engine (Debian's docker.io, socket /var/run/engarde-docker.sock,
## data root /var/lib/engarde-docker); does nothing when it runs (`scripts/docker-engine stop` stops it)
docker-engine:
	scripts/docker-engine start

## images: the dev stack's images on that engine, from Debian's packages and PyPI only (nothing pulled from
## a registry), each rebuilt only when its recipe changes; build/images.yaml and build/standins.yaml point a
## stack at them (scripts/images; root)
images: docker-engine
	scripts/images

## e2e-docker: the dev stack through the real engine and providers on that engine: every container, day 2,
## data safety (needs the postgresql and mysql plugins in the toolchain's bin/, like `make e2e`)
e2e-docker: $(STAMP) images
	$(PY) toolchain/build.py --check
	$(PY) -m pytest -q tests/e2e_docker
