#!/usr/bin/env bash
# Trains the shipped model models/nuclei-brightfield-generalist the way it was made, and scores
# it on the held-out test part of every dataset it was trained on. Not part of CI: about 15
# minutes of training on 2 cores, plus installing PyPI's torch (about 7 GB) for the LibTorch
# engine the first time, plus scoring.
#
# Data (docs/training.md, "The paired datasets", says where each set comes from):
#   ndev scratch assay (PyPI ndev-sampledata, fetched by scripts/fetch-data.sh): frames 0-6,
#     x 0-383 for training and validation; frames 7-9, x 384-575 tested against its labels
#   celldetective ADCC (../shared/data/celldetective_adcc): 18 experiments for training and
#     validation, 6 others tested against Hoechst-derived nuclei
#   BriFiSeg A549, HeLa, MCF-7 (../shared/data/brifiseg_bf): fields 1-18 of each line for
#     training and validation, fields 19-24 tested against their masks
# Each of the five sources gets the same share of the training patches and of the validation
# score (--balance-datasets); the right quarter of every training field is its validation strip.
#
# Usage: scripts/train-nuclei-brightfield-generalist.sh [OUT_FOLDER]
#   (default: models/nuclei-brightfield-generalist; the folder's name is the model's name)
#   SHARED_DATA=... where celldetective_adcc/ and brifiseg_bf/ are (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models/nuclei-brightfield-generalist}"
data=data/generalist
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/generalist/prepare-data.sh
# The standard U-Net is 2.1-2.4x faster to train on LibTorch than on burn's flex (BENCHMARKS.md).
. scripts/libtorch-env.sh
cargo build --quiet --profile dev -p brightseg-cli --features libtorch --target-dir target/libtorch
bin=target/libtorch/debug/brightseg
"$bin" train nuclei --sources "$data/sources-all.yaml" --balance-datasets \
  --architecture standard --engine libtorch --epochs 40 --steps 60 --patience 40 --seed 1 \
  --jobs 2 --time-budget 840s --license MIT --out "$out"
rm -rf "$out/.checkpoints"
# Scored with the model's own threshold and minimum size; never tuned on these parts.
"$bin" evaluate data/ndev/scratch-assay-labeled-10T-2Ch.tiff --model "$out" --channel oblique \
  --frames 7-9 --region 384,0,192,210 --truth-channel nuclei --csv "$out/test-ndev.csv"
"$bin" evaluate "$data"/celldetective/test/*.tif --model "$out" --truth-from-fluorescence 1 \
  --truth-from-fluorescence-images "$data"/celldetective/test/stain/*.tif \
  --csv "$out/test-celldetective.csv"
for line in A549 HeLa MCF-7; do
  "$bin" evaluate "$data/brifiseg/$line/test/"*.tif --model "$out" \
    --truth "$data/brifiseg/$line/test/labels/"*.tif --csv "$out/test-brifiseg-$line.csv"
done
echo "object F1 at IoU 0.5 on each test part:"
for f in "$out"/test-*.csv; do
  echo "  $(basename "$f" .csv | sed 's/^test-//'): $(tail -1 "$f" | cut -d, -f6)"
done
