#!/usr/bin/env bash
# Creates .venv with the Python packages the end-to-end tests use as oracles
# (onnxruntime, scikit-image, SciPy, NumPy).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnxruntime, skimage, scipy' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r tests/oracle/requirements.txt
fi
echo "Test oracles ready in .venv/"
