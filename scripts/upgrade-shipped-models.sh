#!/usr/bin/env bash
# Rewrites the shipped models' descriptions in the bioimage.io 0.5 format the zoo's validator
# accepts, with test tensors, sample tensors and covers (`brightseg upgrade-model`; the ONNX
# networks and weights are left untouched), then checks both with the zoo's own tools
# (bioimageio.spec validation and bioimageio.core's test_model, in .venv-zoo).
# The test inputs: the nuclei model's from its training image (frame 6, where cells are dense),
# the artifact model's a synthetic artifact tile like those it was trained on.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
cargo build --quiet -p brightseg-cli
bin=target/debug/brightseg
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
"$bin" upgrade-model models/nuclei-brightfield --test-image "$image" --channel oblique \
  --frames 6 --region 0,0,288,210
tiles=$(mktemp -d)
trap 'rm -rf "$tiles"' EXIT
"$bin" synth-artifacts "$image" --channel oblique --frames 0 --seed 1 --out "$tiles" >/dev/null
"$bin" upgrade-model models/artifacts-brightfield \
  --test-image "$tiles/images/scratch-assay-labeled-10T-2Ch_t0_x192_y0.tif"
.venv-zoo/bin/python tests/oracle/zoo_check.py models/nuclei-brightfield models/artifacts-brightfield \
  models/nuclei-brightfield-generalist # written in the current format by the trainer
