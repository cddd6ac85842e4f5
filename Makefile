# The two commands: `make demo` and `make test`. Both install what is missing and are safe to run twice.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export PATH := $(HOME)/.local/bin:$(PATH)
export ZS_ROOT := $(CURDIR)
# deploy/postgres.sh asks for passwords (scram-sha-256) and keeps them here for psql, asyncpg and the benches.
export PGPASSFILE ?= $(CURDIR)/.cache/run/pgpass

.PHONY: bench-tools demo test down install jaeger-background helm-background bench bench-intake bench-e2e bench-scale bench-memory bench-matching bench-rebuild bench-national bench-reports chaos schemas lint format unit

demo: jaeger-background install  ## everything up, a simulated year through the real APIs, the report
	uv run --frozen zorgstroom demo

test: jaeger-background helm-background install  ## the whole suite against real Kafka and PostgreSQL (started here if needed)
	uv run --frozen pytest

down:  ## stop the demo's services, Keycloak, Kafka and PostgreSQL
	@if [ -x .venv/bin/zorgstroom ]; then .venv/bin/zorgstroom down; \
	else for s in keycloak prometheus jaeger kafka postgres; do ZS_INSTANCE=demo deploy/$$s.sh stop; done; fi

install:
	@deploy/install.sh

jaeger-background:  # the trace backend's first build takes minutes: start it first, it overlaps the rest
	@[ "$${ZS_TRACES:-1}" = 0 ] || deploy/jaeger.sh build-background || true

helm-background:  # Helm (the chart's test renders with it) likewise: built once, beside the tests
	@deploy/helm.sh build-background || true

bench-tools:  # wrk, the intake benchmark's load generator (Debian)
	@command -v wrk >/dev/null || { [ -f /tmp/.zorgstroom-apt-updated ] || { $$( [ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && touch /tmp/.zorgstroom-apt-updated; }; \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y -qq wrk >/dev/null; }

unit: install  ## only the tests that need no Kafka or PostgreSQL
	uv run --frozen pytest tests/unit contracts/tests

bench: install bench-tools  ## every benchmark (intake; 202 to visible; scale-out; memory; matching; rebuild; national replay; reports), rewrites bench/RESULTS.md
	uv run --frozen python bench/matching.py
	uv run --frozen python bench/intake_load.py
	uv run --frozen python bench/intake_to_reporting.py
	uv run --frozen python bench/scale_out.py
	uv run --frozen python bench/memory.py
	uv run --frozen python bench/rebuild.py
	uv run --frozen python bench/national_replay.py
	uv run --frozen python bench/report_query.py

bench-intake: install bench-tools  ## only intake under load (wrk, 16 and 64 connections): durable 202s/s beside a bare endpoint and /healthz
	uv run --frozen python bench/intake_load.py

bench-e2e: install  ## only 202 to the report showing it: an open loop at 200 intakes/s for 60 s, reporting polled back to back
	uv run --frozen python bench/intake_to_reporting.py

bench-scale: install  ## only scale-out: one instance of each consuming service against two, draining the same backlog
	uv run --frozen python bench/scale_out.py

bench-memory: install  ## only memory: each service's resident memory idle and under the 200/s intake load
	uv run --frozen python bench/memory.py

bench-rebuild: install  ## only the rebuild benchmark: one million events replayed into reporting, beside a plain read
	uv run --frozen python bench/rebuild.py

bench-national: install  ## only the national replay: ten years of 342 municipalities generated, then replayed into reporting
	uv run --frozen python bench/national_replay.py

bench-reports: install  ## only the 120-month region report at national scale (kept aggregates), beside /healthz
	uv run --frozen python bench/report_query.py

bench-matching: install  ## only the matching benchmark (no Kafka or PostgreSQL needed)
	uv run --frozen python bench/matching.py

chaos: install  ## the long fault suite: ~20 seeded faults on a 3-broker cluster under load, then every invariant (ZS_CHAOS_SEED repeats a run)
	uv run --frozen pytest -m chaos tests/chaos -v

schemas:  ## regenerate contracts/schemas (refuses breaking changes)
	uv run --frozen python contracts/gen_schemas.py

lint:
	uv run --frozen ruff check .
	uv run --frozen ruff format --check .
	uv run --frozen mypy contracts/src services/runtime/src services/intake/src services/placement/src services/housing/src services/reporting/src ops/src

format:
	uv run --frozen ruff format .
	uv run --frozen ruff check --fix .
