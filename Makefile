# partnerstream: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= ./data
KAFKA := deploy/kafka/kafka.sh
PYTEST_ARGS ?=


.PHONY: browser help install run test test-unit lint format bench chaos loadtest kafka-up kafka-down clean schemas

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install partnerstream with its dev extras (pinned by requirements.lock)

run: install ## serve the whole pipeline on 127.0.0.1:8000 (local bus + embedded chDB in ./data)
	PARTNERSTREAM_REGISTRY=$${PARTNERSTREAM_REGISTRY:-deploy/registry.example.yaml} \
	  $(BIN)/partnerstream run --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

browser: ## install Debian's chromium for the dashboard's browser test (when missing, as root)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (dashboard browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and cannot be installed here: the browser test will skip"; fi; }

test: install browser ## start Kafka, run every test, stop Kafka (even on failure)
	@set -e; $(KAFKA) start >/dev/null; \
	  export KAFKA_BOOTSTRAP_SERVERS=$$($(KAFKA) status); \
	  status=0; $(BIN)/pytest -q -m "not bench and not slow" $(PYTEST_ARGS) || status=$$?; \
	  $(KAFKA) stop; exit $$status

test-unit: install ## the tests that need no Kafka broker
	$(BIN)/pytest -q -m "not kafka and not bench and not slow" $(PYTEST_ARGS)

lint: install ## ruff + mypy --strict on the packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: install ## regenerate schemas/json from the pydantic models
	$(BIN)/python -m schemas.export

bench: install ## run the benchmark suite and write BENCHMARKS.md (a few minutes)
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[bench]' \
	  || echo "bench extras not installed: B4 reports its peers as unavailable"
	@set -e; $(KAFKA) start >/dev/null; \
	  export KAFKA_BOOTSTRAP_SERVERS=$$($(KAFKA) status); \
	  status=0; $(BIN)/python -m loadtests.run_all $(BENCH_ARGS) || status=$$?; \
	  $(KAFKA) stop; exit $$status

loadtest: install ## hold a sustained load for minutes (Kafka mode): errors, latency, lag
	@set -e; $(KAFKA) start >/dev/null; \
	  export KAFKA_BOOTSTRAP_SERVERS=$$($(KAFKA) status); \
	  status=0; $(BIN)/python -m loadtests.sustained $(LOADTEST_ARGS) || status=$$?; \
	  $(KAFKA) stop; exit $$status

chaos: install ## the long crash-safety suites (kill -9 many times)
	@set -e; $(KAFKA) start >/dev/null; \
	  export KAFKA_BOOTSTRAP_SERVERS=$$($(KAFKA) status); \
	  status=0; $(BIN)/pytest -q -m slow $(PYTEST_ARGS) || status=$$?; \
	  $(KAFKA) stop; exit $$status

kafka-up: ## start the single-node Kafka broker (prints its bootstrap address)
	$(KAFKA) start

kafka-down: ## stop the Kafka broker
	$(KAFKA) stop

clean: ## remove the venv, local data and Kafka's run directory
	-$(KAFKA) stop
	rm -rf $(VENV) $(DATA_DIR) deploy/kafka/run .pytest_cache .mypy_cache .ruff_cache
