# The scripts people run. `make run` and `make test` work from a clean clone: they create the
# virtual environment and install the pinned dependencies first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt

.PHONY: install run test test-fast lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,batch]"
	touch $(STAMP)

run: install
	$(BIN)/medner demo

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/accuracy.py --write docs/benchmarks.md
	$(BIN)/python bench/ablation.py --write docs/benchmarks.md
	$(BIN)/python bench/extract_throughput.py --write docs/benchmarks.md
	$(BIN)/python bench/batch_throughput.py --write docs/benchmarks.md

clean:
	rm -rf $(VENV) runs models .pytest_cache .mypy_cache .ruff_cache
