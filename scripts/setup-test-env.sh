#!/usr/bin/env bash
# Creates .venv with the Python packages the end-to-end tests use: the oracles
# (onnxruntime, scikit-image, SciPy, NumPy) and Snakemake for the screen workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnxruntime, skimage, scipy' 2>/dev/null \
   || [ ! -x .venv/bin/snakemake ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r tests/oracle/requirements.txt -r workflows/requirements.txt
fi
echo "Test oracles and Snakemake ready in .venv/"
