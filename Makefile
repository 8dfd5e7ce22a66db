# The two commands a new user needs: `make run` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run lint test bench chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## migrate the embedded SQLite database and serve the example team
	$(BIN)/oncallbot db upgrade
	$(BIN)/oncallbot serve

lint: install  ## the rules checked by tools: style, types, and which layer may import what
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint  ## the rules above, then the whole suite, SQLite and PostgreSQL
	$(BIN)/python -m pytest

bench: install  ## timing goals, measured (never asserted)
	$(BIN)/python -m bench

chaos: install  ## issue 14: replicas killed, PostgreSQL restarted, providers failing; exactly-once checked
	$(BIN)/python -m bench.chaos --restart-postgres $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
