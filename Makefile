# The two commands a newcomer runs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
LOCAL  := deploy/local.sh
KAFKA  := deploy/kafka/kafka.sh
PG     := deploy/postgres/postgres.sh
export PYTHONUNBUFFERED := 1

# A KAFKA_BOOTSTRAP or DATABASE_URL already set means an existing cluster or server:
# the local one is then neither started nor stopped. BROKERS=3 runs three local Kafka nodes
# (clients on 9092, 9093, 9094; replication 3, min.insync.replicas 2); unset, the size the
# local storage has (1 when new). Every command below then bootstraps from all of them.
ifeq ($(strip $(KAFKA_BOOTSTRAP)),)
OWN_KAFKA := yes
export BROKERS
export KAFKA_BOOTSTRAP := $(shell BROKERS=$(BROKERS) deploy/kafka/kafka.sh bootstrap 2>/dev/null)
endif
DEMO_COUNT ?= 3000
# Stream workers `make up` runs: the first on :9101 with .run/faust, worker-N on :911N
# (9110+N) with .run/faust-N. They share the partitions (README, "Scaling out").
WORKERS ?= 1

.PHONY: help setup services tools up down run test unit integration bench chaos logs schemas clean distclean

help:
	@echo "make run    start the stack, send a realistic demo load, print where it went"
	@echo "make test   unit and integration tests on the real Kafka and PostgreSQL"
	@echo "make unit   the unit tests alone: no broker, no database, no process started"
	@echo "make setup | up | down | logs | integration | bench | chaos | schemas | clean"

$(VENV)/.installed: pyproject.toml
	@deploy/prerequisites.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	@[ -z "$(OWN_KAFKA)" ] || $(KAFKA) fetch

services: setup
	@[ -z "$(OWN_KAFKA)" ] || $(KAFKA) start
	@[ -n "$$DATABASE_URL" ] || $(PG) start
	@$(PY) -m processors topics

# Each service is reported started once it answers ready (the worker: partitions assigned and
# tables recovered; the sink: consuming; the console: /healthz); one that dies while starting
# stops `make up` with its name and reason (deploy/local.sh).
up: services
	@$(LOCAL) start worker --ready http://127.0.0.1:$${WORKER_METRICS_PORT:-9101}/ready -- $(PY) -m processors worker
	@for n in $$(seq 2 $(WORKERS)); do \
	  FAUST_DATA_DIR=.run/faust-$$n WORKER_METRICS_PORT=$$((9110 + n)) \
	    $(LOCAL) start worker-$$n --ready http://127.0.0.1:$$((9110 + n))/ready -- $(PY) -m processors worker \
	    || exit 1; \
	done
	@$(LOCAL) start sink --ready http://127.0.0.1:$${SINK_METRICS_PORT:-9102}/ready -- $(PY) -m sinks postgres
	@$(LOCAL) start console --ready http://127.0.0.1:$${CONSOLE_PORT:-8080}/healthz -- $(PY) -m offices console

down:
	@$(LOCAL) stop console
	@$(LOCAL) stop sink
	@for pid in .run/worker*.pid; do [ -e "$$pid" ] && $(LOCAL) stop "$$(basename "$$pid" .pid)"; done; true
	@[ -z "$(OWN_KAFKA)" ] || $(KAFKA) stop
	@[ -n "$$DATABASE_URL" ] || $(PG) stop

# The demo load plays the portal and the offices at once: it runs as admin. Its complaints
# were recorded over the last 56 hours, so about one in seven is overdue and escalated at once.
run: up
	KAFKA_CLIENT_PROPERTIES=$${KAFKA_CLIENT_PROPERTIES:-.run/kafka/clients/admin.properties} \
	  $(PY) -m producers generate --count $(DEMO_COUNT) --resolve-share 0.3 --spread-hours 56
	$(PY) -m processors summary --wait 120
	@$(PY) -m offices users demo

tools:
	@deploy/tools.sh

test: services tools
	$(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest -m "not integration"

integration: services
	$(PY) -m pytest -m integration

bench: services
	$(PY) -m benchmarks $(BENCH_ARGS)

# The chaos scenarios, and the one-judge differential test at ten times its make test size.
chaos: services
	ONE_JUDGE_EXAMPLES=$${ONE_JUDGE_EXAMPLES:-20000} $(PY) -m pytest -q tests/test_one_judge_integration.py
	$(PY) -m benchmarks.chaos $(CHAOS_ARGS)

logs:
	@tail -n 50 -F .run/logs/*.log $$(ls .run/kafka/logs/server.log .run/kafka/node-*/logs/server.log 2>/dev/null)

schemas: setup
	$(PY) -m schemas export

clean:
	rm -rf .run .pytest_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: down clean
	rm -rf $(VENV) .cache
