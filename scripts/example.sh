#!/usr/bin/env bash
# The main job on a real example image: sets up, builds, fetches a public brightfield time
# series (ndev-sampledata's scratch assay: oblique transmitted light + Hoechst, 0.619 µm/px) and
# runs Find Nuclei DNN with the shipped model nuclei-brightfield on its transmitted-light
# channel alone: no stain needed. Results go to results/example/. Then it scores the model on
# the part of the series it never saw in training against the dataset's own nucleus labels.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
cargo build --quiet -p brightseg-cli
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
target/debug/brightseg models
target/debug/brightseg find-nuclei "$image" --model "${BRIGHTSEG_MODEL:-nuclei-brightfield}" \
  --channel oblique --probability --overlay --out results/example
echo
column -s, -t < results/example/summary.csv | cut -c1-200
echo "Outputs: $(ls results/example | tr '\n' ' ')"
echo
echo "Test region (frames 7-9, right third; never used in training) against the labelled nuclei:"
target/debug/brightseg evaluate "$image" --model "${BRIGHTSEG_MODEL:-nuclei-brightfield}" \
  --channel oblique --frames 7-9 --region 384,0,192,210 --truth-channel nuclei
