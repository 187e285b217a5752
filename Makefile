# Two commands do all set-up: `make demo` (the main job) and `make test` (the whole suite).
# Both create or refresh .venv from pyproject.toml by themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tradekit demo

lint: $(STAMP)
	$(BIN)/ruff check tradekit tests
	$(BIN)/ruff format --check tradekit tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m tradekit.bench core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
