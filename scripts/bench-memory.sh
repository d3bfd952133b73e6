#!/usr/bin/env bash
# Peak memory of find-nuclei on a large synthetic 16-bit image (default 10000 × 10000) made by
# mirroring StarDist's real sample image. Not part of the tests (it takes minutes):
#   scripts/bench-memory.sh [SIZE] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-10000}"
model="${2:-../shared/models/unet2d_nuclei_broad}"
scripts/fetch-data.sh >/dev/null
scripts/setup-test-env.sh >/dev/null
cargo build --quiet -p brightseg-cli
work="${TMPDIR:-/tmp}/brightseg-bench-$size"
mkdir -p "$work"
if [ ! -f "$work/big.tif" ]; then
  .venv/bin/python - "$size" "$work/big.tif" <<'PY'
import sys, numpy as np, tifffile
n = int(sys.argv[1])
tile = tifffile.imread("data/stardist/img2d.tif")
row = np.concatenate([tile, tile[:, ::-1]], axis=1)
block = np.concatenate([row, row[::-1]], axis=0)
reps = (n + block.shape[0] - 1) // block.shape[0]
big = np.tile(block, (reps, reps))[:n, :n].astype(np.uint16)
tifffile.imwrite(sys.argv[2], big, imagej=True, resolution=(1 / 0.5, 1 / 0.5), metadata={"unit": "micron"})
PY
fi
ls -l "$work/big.tif"
/usr/bin/time -v target/debug/brightseg find-nuclei "$work/big.tif" --model "$model" \
  --out "$work/out" --overwrite --quiet 2> "$work/time.txt" || { cat "$work/time.txt"; exit 1; }
grep -E "Maximum resident|Elapsed" "$work/time.txt"
cut -d, -f1,7-8 "$work/out/summary.csv"
