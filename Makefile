PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup test lint bench clean

setup: $(BIN)/vmaftune

$(BIN)/vmaftune: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check vmaftune tests
	$(BIN)/ruff format --check vmaftune tests
	$(BIN)/mypy

bench: setup
	@echo "bench/: no benchmarks yet (see docs/benchmarks.md)"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
