#!/usr/bin/env bash
# The main job on a real example image: sets up, builds, fetches StarDist's sample image of
# fluorescent nuclei and runs Find Nuclei DNN on it. Results go to results/example/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
cargo build --quiet -p brightseg-cli
# Models: shipped ones in models/, plus any folder on BRIGHTSEG_MODEL_PATH. The third-party
# bioimage.io model unet2d_nuclei_broad lives in the shared models folder beside this checkout.
if [ -d ../shared/models ]; then
  export BRIGHTSEG_MODEL_PATH="${BRIGHTSEG_MODEL_PATH:+$BRIGHTSEG_MODEL_PATH:}$(cd ../shared/models && pwd)"
fi
target/debug/brightseg models
target/debug/brightseg find-nuclei data/stardist/img2d.tif --model "${BRIGHTSEG_MODEL:-unet2d_nuclei_broad}" \
  --pixel-size 1 --probability --overlay --out results/example
echo
column -s, -t < results/example/summary.csv | cut -c1-200
echo "Outputs: $(ls results/example | tr '\n' ' ')"
