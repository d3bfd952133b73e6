#!/usr/bin/env bash
# Trains the shipped model models/nuclei-brightfield from scratch, the way it was made, and
# scores it on its test region. Not part of CI (10-20 minutes on 2 cores).
#
# Data: ndev-sampledata 0.0.3, scratch-assay-labeled-10T-2Ch.tiff (BSD-3-Clause): 10 time points
# of oblique transmitted light (input) and Hoechst (H3342, turned into targets); its label
# channels are never used for training, only to score the test region.
# Split in time and space, as neighbouring frames share cells:
#   training   frames 0-6, x 0-287    (the left two thirds minus the validation strip)
#   validation frames 0-6, x 288-383  (early stopping, threshold choice)
#   test       frames 7-9, x 384-575  (the right third; never seen before this script scores it)
#
# Usage: scripts/train-nuclei-brightfield.sh [OUT_FOLDER] (default: models/nuclei-brightfield)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models/nuclei-brightfield}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
cargo build --quiet -p brightseg-cli
bin=target/debug/brightseg
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
"$bin" train nuclei "$image" --brightfield oblique --fluorescence H3342 \
  --frames 0-6 --region 0,0,384,210 --val-fraction 0.25 \
  --architecture fast --epochs 300 --steps 60 --patience 150 --seed 1 --jobs 2 \
  --license MIT \
  --training-data "ndev-sampledata 0.0.3, scratch-assay-labeled-10T-2Ch.tiff (BSD-3-Clause): oblique transmitted light as input, targets derived from the Hoechst channel H3342 (never the label channels)" \
  --training-data "training: frames 0-6, x 0-287; validation: frames 0-6, x 288-383 (0.619 um/px)" \
  --training-data "test (never used for training or model selection): frames 7-9, x 384-575" \
  --out "$out"
rm -rf "$out/.checkpoints"
echo "== test region against the dataset's own nucleus labels"
"$bin" evaluate "$image" --model "$out" --channel oblique --frames 7-9 --region 384,0,192,210 \
  --truth-channel nuclei --csv "$out/test-vs-labels.csv"
echo "== test region against nuclei derived from its Hoechst channel"
"$bin" evaluate "$image" --model "$out" --channel oblique --frames 7-9 --region 384,0,192,210 \
  --truth-from-fluorescence H3342 --csv "$out/test-vs-hoechst.csv"
