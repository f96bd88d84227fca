# Every target runs through .venv; `make bootstrap` (idempotent) creates it first.
PY := .venv/bin/python
SRC := shared/freightliner functions tests bench


.PHONY: bootstrap bootstrap-sam test lint validate build gcp-source unit integration demo demo-gate bench bench-tree bench-compression fmt clean

bootstrap:
	@bash scripts/bootstrap.sh

bootstrap-sam:
	@bash scripts/bootstrap-sam.sh

# sam build needs the Lambda runtime's Python (3.12) on PATH; pyenv provides it where present.
PY312_DIR := $(shell dirname "$$(command -v python3.12 || PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || echo /nonexistent/python3.12)")
SAM := SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam

validate: bootstrap-sam
	$(SAM) validate --region us-east-1
	$(SAM) validate --lint --region us-east-1

build: bootstrap-sam
	PATH="$(PY312_DIR):$$PATH" $(SAM) build --region us-east-1

# The Cloud Function's source: main.py, the freightliner package and its requirements.
gcp-source: bootstrap
	$(PY) layers/assemble.py gcp build/gcp
	@echo "Cloud Function source assembled in build/gcp"

lint: bootstrap
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy
	.venv/bin/lint-imports

test: lint validate
	$(PY) -m pytest

unit: bootstrap
	$(PY) -m pytest tests/unit

integration: bootstrap
	$(PY) -m pytest tests/integration

demo: bootstrap
	$(PY) -m freightliner.harness.demo

demo-gate: bootstrap
	$(PY) -m freightliner.harness.demo_gate

bench: bootstrap
	$(PY) bench/copy_vs_skopeo.py

bench-tree: bootstrap
	$(PY) bench/tree_sync_vs_skopeo.py
	$(PY) bench/tree_kill_resume.py
	$(PY) bench/tree_fanout_ecr.py

bench-compression: bootstrap
	$(PY) bench/compression.py
	$(PY) bench/compression_memory.py

fmt: bootstrap
	$(PY) -m ruff format $(SRC)
	$(PY) -m ruff check --fix $(SRC)

clean:
	rm -rf .venv .venv-sam .aws-sam build .pytest_cache .mypy_cache .ruff_cache .hypothesis
