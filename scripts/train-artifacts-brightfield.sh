#!/usr/bin/env bash
# Trains the shipped model models/artifacts-brightfield from image-level labels only, the way it
# was made, and scores (a) the raw ScoreCAM maps, (b) the MI-selected pseudo-masks and (c) the
# U-Net on held-out tiles against the synthetic truth. Not part of CI (about 10 minutes on 2
# cores).
#
# Data: a SYNTHETIC artifact set built by `brightseg synth-artifacts` from ndev-sampledata 0.0.3,
# scratch-assay-labeled-10T-2Ch.tiff (BSD-3-Clause), oblique transmitted-light channel, cut into
# 96 × 96 tiles; half of the tiles get composited dust, fibres, bubbles or debris.
#   training + validation  frames 0-6 (84 tiles, seed 1): image-level labels only
#   test                   frames 7-9 (36 tiles, seed 2): truth masks used to score only
#
# Usage: scripts/train-artifacts-brightfield.sh [OUT_FOLDER] (default: models/artifacts-brightfield)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models/artifacts-brightfield}"
work="${WORK:-results/artifacts}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
cargo build --quiet -p brightseg-cli
bin=target/debug/brightseg
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
rm -rf "$work/train" "$work/test"
"$bin" synth-artifacts "$image" --channel oblique --frames 0-6 --seed 1 --out "$work/train"
"$bin" synth-artifacts "$image" --channel oblique --frames 7-9 --seed 2 --out "$work/test"
"$bin" train artifacts --labels "$work/train/labels.csv" \
  --architecture tiny --epochs 60 --steps 20 --patience 15 --seed 1 --jobs 2 --license MIT \
  --training-data "SYNTHETIC artifacts (brightseg synth-artifacts, seed 1) on 96x96 tiles of ndev-sampledata 0.0.3 scratch-assay-labeled-10T-2Ch.tiff (BSD-3-Clause), oblique transmitted light, frames 0-6" \
  --training-data "supervision: image-level labels (artifact / clean) only; no masks" \
  --training-data "test (never used for training): frames 7-9, seed 2" \
  --out "$out"
rm -rf "$out/.checkpoints"
echo "== (a) ScoreCAM maps and (b) MI pseudo-masks on the test tiles"
"$bin" cam --classifier "$out/classifier" --labels "$work/test/labels.csv" \
  --truth-dir "$work/test/truth" --out "$work/cam-test" | tee "$out/test-cam.txt"
echo "== (c) the U-Net on the test tiles"
images=$(ls "$work"/test/images/*.tif)
truths=$(for f in $images; do echo "$work/test/truth/$(basename "$f")"; done)
# shellcheck disable=SC2086
"$bin" evaluate $images --model "$out" --no-split --truth $truths --csv "$out/test-unet.csv" | tail -1
"$bin" find-artifacts "$work"/test/images --model "$out" --out "$work/unet-test" --overwrite --quiet
.venv/bin/python scripts/artifact_figure.py "$work" docs/artifacts-examples.png
