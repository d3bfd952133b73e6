#!/usr/bin/env bash
# Creates .venv with the Python packages the end-to-end tests use: the oracles
# (onnxruntime, scikit-image, SciPy, NumPy, nibabel) and Snakemake for the screen workflow; and
# .venv-zoo with the bioimage.io zoo's own validator and test (bioimageio.spec, bioimageio.core),
# which pin versions of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnxruntime, skimage, scipy, nibabel' 2>/dev/null \
   || [ ! -x .venv/bin/snakemake ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r tests/oracle/requirements.txt -r workflows/requirements.txt
fi
if [ ! -x .venv-zoo/bin/python ] || ! .venv-zoo/bin/python -c 'import bioimageio.core, onnxruntime' 2>/dev/null; then
  [ -x .venv-zoo/bin/python ] || python3 -m venv .venv-zoo
  .venv-zoo/bin/python -m pip install --quiet --upgrade pip
  .venv-zoo/bin/python -m pip install --quiet -r tests/oracle/requirements-zoo.txt
fi
echo "Test oracles and Snakemake ready in .venv/, the bioimage.io tools in .venv-zoo/"
