#!/usr/bin/env bash
# SAM CLI in its own virtualenv: it pins boto3 and cfn-lint versions that clash with the project's.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-sam/bin/sam ]; then
  echo "bootstrap: installing aws-sam-cli into .venv-sam"
  python3 -m venv .venv-sam
  .venv-sam/bin/python -m pip install -q --upgrade pip
  .venv-sam/bin/python -m pip install -q aws-sam-cli
fi
