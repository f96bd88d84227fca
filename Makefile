# Every target runs through .venv; `make bootstrap` (idempotent) creates it first.
PY := .venv/bin/python
SRC := shared/freightliner functions tests bench

.PHONY: bootstrap test lint unit integration demo bench fmt clean

bootstrap:
	@bash scripts/bootstrap.sh

lint: bootstrap
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy
	.venv/bin/lint-imports

test: lint
	$(PY) -m pytest

unit: bootstrap
	$(PY) -m pytest tests/unit

integration: bootstrap
	$(PY) -m pytest tests/integration

demo: bootstrap
	$(PY) -m freightliner.harness.demo

bench: bootstrap
	$(PY) bench/copy_vs_skopeo.py

fmt: bootstrap
	$(PY) -m ruff format $(SRC)
	$(PY) -m ruff check --fix $(SRC)

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis
