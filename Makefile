# survey-streams: every target does its own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help install jars test unit demo bench chaos fuzz browser-deps clean

help:
	@echo "make demo   - local Kafka + worker + sample Segment stream + widget sessions + report"
	@echo "make test   - the whole suite against a real Kafka broker it starts"
	@echo "make bench  - benchmarks, written to docs/benchmarks.md"
	@echo "make chaos  - fault suite (worker kills and pauses, broker restart), written to docs/reliability.md"
	@echo "make fuzz   - the long HTTP fuzz run (4000 + 1000 requests, a fresh seed)"

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Resolve the Kafka jars (cached under ~/.cache/survey-streams) with mvn.
jars: install
	$(BIN)/python -c "from streams.runtime.localkafka import resolve_jars; resolve_jars()"

# Headless Chromium for the browser test (Debian's package; no browser download).
# Needs root (or sudo) and apt; the browser test skips, saying so, when Chromium is absent.
browser-deps:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Four pytest processes (they mostly wait on workers and the broker), one broker (tests/conftest.py): whole files go to one or the other.
test: install jars browser-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 4 --dist loadfile --durations 25

unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/core tests/runtime tests/web tests/schemas tests/cli tests/bench tests/agents tests/insights tests/demo tests/test_docs_citations.py tests/test_layers.py

demo: install jars
	$(BIN)/python -m streams.demo

bench: install jars
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.liveconfig
	$(BIN)/python -m bench.insights
	$(BIN)/python -m bench.authoring_rules

# Fault suite: kills workers and restarts the broker while input flows (10-20 min).
chaos: install jars
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# The long HTTP fuzz run; make test runs its short version (tests/integration/test_http_fuzz.py).
fuzz: install jars
	FUZZ_EXAMPLES=4000 FUZZ_SECURE_EXAMPLES=1000 FUZZ_BUDGET_S=75 FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
	  $(BIN)/python -m pytest -q -p no:cacheprovider -s tests/integration/test_http_fuzz.py

clean:
	rm -rf var test-output .pytest_cache
