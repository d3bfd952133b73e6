#!/usr/bin/env bash
# Training speed of each engine, side by side in one run: the same short training (ndev's
# oblique + Hoechst frames 0-6, 8 patches of 128² per step, seed 1) with the standard U-Net and
# the shipped `fast` architecture, on every engine the binary has (flex always; libtorch when it
# was built with scripts/setup-libtorch.sh). Prints seconds per step (validation included, from
# training.json) and each engine's speed-up over flex.
#
#   scripts/bench-training.sh [BRIGHTSEG] [THREADS] [STEPS]
#   defaults: target/libtorch/release/brightseg if built, else target/release or target/debug;
#             2 threads; 20 steps per epoch, 3 epochs (the first epoch is not counted)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [ -z "$bin" ]; then
  for b in target/libtorch/release/brightseg target/libtorch/debug/brightseg \
           target/release/brightseg target/debug/brightseg; do
    [ -x "$b" ] && { bin="$b"; break; }
  done
fi
[ -x "${bin:-}" ] || { echo "no brightseg binary: build one first (cargo build, or scripts/setup-libtorch.sh)" >&2; exit 2; }
threads="${2:-2}"
steps="${3:-20}"
scripts/fetch-data.sh >/dev/null
series=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
engines=(flex)
# An engine the binary was built without is refused at once: probe with one tiny step.
"$bin" train nuclei "$series" --brightfield oblique --fluorescence H3342 --frames 0 \
    --epochs 1 --steps 1 --batch 2 --patch 32 --architecture tiny --engine libtorch \
    --out "$work/probe" >/dev/null 2>&1 && engines+=(libtorch)
echo "binary: $bin, $threads thread(s), $steps steps of 8 × 128² per epoch, $(nproc) cores"
echo
echo "| architecture | engine | seconds per step | vs flex |"
echo "|---|---|---|---|"
for arch in standard fast; do
  flex_step=""
  for engine in "${engines[@]}"; do
    out="$work/$arch-$engine"
    OMP_NUM_THREADS="$threads" "$bin" train nuclei "$series" --brightfield oblique \
      --fluorescence H3342 --frames 0-6 --architecture "$arch" --epochs 3 --steps "$steps" \
      --batch 8 --patch 128 --seed 1 --jobs "$threads" --engine "$engine" --quiet \
      --out "$out" >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
    step=$(python3 - "$out/training.json" "$steps" <<'P'
import json, sys
history = json.load(open(sys.argv[1]))["history"]
seconds = [h["seconds"] for h in history[1:]] or [history[0]["seconds"]]
print(f"{sum(seconds) / len(seconds) / int(sys.argv[2]):.3f}")
P
)
    [ -z "$flex_step" ] && flex_step="$step"
    ratio=$(python3 -c "print(f'{$flex_step / $step:.2f}×')")
    echo "| $arch | $engine | $step | $ratio |"
  done
done
