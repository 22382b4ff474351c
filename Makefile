# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench dev clean

$(BIN)/activate: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

## Load everything from the bundled PersistIQ emulator into DuckDB, then print row counts.
demo: $(BIN)/activate
	$(BIN)/python -m persistiq_dagster.demo

## Run the tests (real HTTP to the emulator, real DuckDB files, a real `dagster dev`).
test: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/pytest

## Compare the project's Dagster CLI with a plain dlt script (README: Benchmarks).
bench: $(BIN)/activate
	$(BIN)/python bench/compare.py

## Start the Dagster UI on http://127.0.0.1:3000 with the project's instance settings.
dev: $(BIN)/activate
	mkdir -p .dagster_home && cp dagster.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev

clean:
	rm -rf $(VENV) data .dagster_home *.egg-info
