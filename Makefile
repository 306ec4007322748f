# The two commands that matter: `make demo` and `make test`. Each does all the set-up it needs.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo lint test test-fast bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/kdaug demo --output demo_output

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) scripts/typecheck.py  # mypy over every package, under its import name

test: lint
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q tests -m "not real_assets"

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m benchmarks

clean:
	rm -rf demo_output .pytest_cache
