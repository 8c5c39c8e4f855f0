# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The demo's two witnesses; empty: PORT+101,PORT+102.
WITNESS_PORTS ?=

.PHONY: install demo test test-fast schema lint bench clean

# Reinstall when the dependencies or the set of top-level packages change (the editable
# install maps packages by name when it is made).
$(STAMP): pyproject.toml $(wildcard */__init__.py)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## demo: set up, initialise ./data (SQLite + keys), seed demo data, serve on 127.0.0.1:$(PORT)
demo: $(STAMP)
	$(VENV)/bin/heartchain demo --serve --host $(HOST) --port $(PORT) \
	  $(if $(WITNESS_PORTS),--witness-ports $(WITNESS_PORTS))

## test: set up, run every test (SQLite; PostgreSQL too when HEARTCHAIN_TEST_POSTGRES is set)
test: $(STAMP)
	timeout 50m $(PYTHON) -m pytest -q

test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -m "not slow"

## schema: re-export graphql/schema.graphql from the code
schema: $(STAMP)
	$(PYTHON) -m heartchain.schema_export > graphql/schema.graphql

lint: $(STAMP)
	$(VENV)/bin/ruff check heartchain tokens tracing web tests bench
	$(VENV)/bin/mypy heartchain

bench: $(STAMP)
	$(PYTHON) bench/ledger.py

clean:
	rm -rf $(VENV) data .pytest_cache
