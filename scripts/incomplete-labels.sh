#!/usr/bin/env bash
# Incomplete labels: drop 0/25/50/75 % of the labelled nuclei from the training labels (seeded),
# train with the naive loss (every unlabelled pixel is background) and with --labels-incomplete,
# and score each model on complete labels of a test region it never saw. Writes
# docs/incomplete-labels.csv and docs/incomplete-labels.png. Not part of CI (about 4 minutes
# per model on 2 cores; 8 models with the defaults).
#
# Data: ndev-sampledata's scratch assay, oblique transmitted light, with the dataset's own
# `nuclei` label channel as the complete labels. Training region frames 0-6, x 0-287;
# validation frames 0-6, x 288-383 (its labels are as incomplete as the training labels:
# validation only scores where labels are known); test frames 7-9, x 384-575, complete labels.
#
#   DROPS="0 25 50 75" SEEDS="1" EPOCHS=120 STEPS=30 PATIENCE=60 ARCH=fast WEIGHT=0.1 \
#     scripts/incomplete-labels.sh
#
# CHANNEL=H3342 trains and tests on the Hoechst channel instead (the same labels; a task the
# network learns in seconds, so the labels are what limits it), e.g. the seed's experiment with
# three seeds in about 15 minutes:
#   CHANNEL=H3342 SEEDS="1 2 3" EPOCHS=30 STEPS=10 PATIENCE=30 OUT_CSV=docs/incomplete-labels-hoechst.csv \
#     OUT_PNG=docs/incomplete-labels-hoechst.png WORK=results/incomplete-labels-hoechst scripts/incomplete-labels.sh
#
# Noisy labels: NOISE=PX moves every outline: each kept nucleus is dilated or eroded (at
# random) by 1 to PX pixels and shifted by up to PX pixels; LOSSES picks the losses (naive,
# incomplete). Label smoothing was measured this way at commit 2d2127a (LOSSES="naive smoothed",
# docs/noisy-labels-hoechst*.csv) and removed: it did not help.
set -euo pipefail
cd "$(dirname "$0")/.."
drops="${DROPS:-0 25 50 75}"
seeds="${SEEDS:-1}"
epochs="${EPOCHS:-120}"
steps="${STEPS:-30}"
weight="${WEIGHT:-0.1}"
channel="${CHANNEL:-oblique}"
noise="${NOISE:-0}"
losses="${LOSSES:-naive incomplete}"
work="${WORK:-results/incomplete-labels}"
out_csv="${OUT_CSV:-docs/incomplete-labels.csv}"
out_png="${OUT_PNG:-docs/incomplete-labels.png}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/python -m pip install --quiet matplotlib
cargo build --quiet -p brightseg-cli
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
mkdir -p "$work" "$(dirname "$out_csv")"
# A private copy: rebuilding the workspace during this run must not change the program.
bin="$work/brightseg"
cp target/debug/brightseg "$bin"
# Label files with a share of the nuclei of every frame removed (the same nuclei for both losses).
.venv/bin/python - "$image" "$work" "$drops" "$seeds" "$noise" <<'EOF'
import sys

import numpy as np
import tifffile
from scipy import ndimage

image, work, drops, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
noise = int(sys.argv[5])


def jitter(frame, rng):
    """Each nucleus dilated or eroded by 1..noise px and shifted by up to noise px."""
    out = np.zeros_like(frame)
    for i in np.unique(frame[frame > 0]):
        mask = frame == i
        r = int(rng.integers(1, noise + 1))
        grow = rng.random() < 0.5
        mask = (ndimage.binary_dilation if grow else ndimage.binary_erosion)(mask, iterations=r)
        dy, dx = rng.integers(-noise, noise + 1, size=2)
        mask = np.roll(mask, (int(dy), int(dx)), axis=(0, 1))
        out[mask & (out == 0)] = i
    return out


with tifffile.TiffFile(image) as tif:
    stack = tif.series[0].asarray()  # C, T, Y, X
    names = [c.split('"')[1] for c in tif.pages[0].description.split("Name=")[1:]]
labels = stack[names.index("nuclei") - 1]  # the first Name is the image's own
for drop in drops:
    for seed in seeds:
        rng = np.random.default_rng(int(seed))
        kept = np.zeros_like(labels)
        for t, frame in enumerate(labels):
            ids = np.unique(frame[frame > 0])
            keep = ids[rng.random(len(ids)) >= int(drop) / 100]
            kept[t] = np.where(np.isin(frame, keep), frame, 0)
            if noise > 0:
                kept[t] = jitter(kept[t], rng)
        tifffile.imwrite(f"{work}/labels-drop{drop}-s{seed}.tif", kept[:, None].astype(np.uint16),
                         imagej=True, metadata={"axes": "TCYX"})
EOF
echo "loss,dropped_percent,seed,test_object_f1,test_pixel_f1" > "$out_csv"
for drop in $drops; do
  for seed in $seeds; do
    for loss in $losses; do
      flags=()
      [ "$loss" = incomplete ] && flags=(--labels-incomplete --unlabelled-weight "$weight")
      model="$work/$loss-drop$drop-s$seed"
      "$bin" train nuclei "$image" --brightfield "$channel" --masks "$work/labels-drop$drop-s$seed.tif" \
        --frames 0-6 --region 0,0,288,210 --val-frames 0-6 --val-region 288,0,96,210 \
        --architecture "${ARCH:-fast}" --epochs "$epochs" --steps "$steps" --patience "${PATIENCE:-60}" --seed "$seed" \
        "${flags[@]}" --quiet --out "$model" > "$model.log" 2>&1 || { cat "$model.log"; exit 1; }
      "$bin" evaluate "$image" --model "$model" --channel "$channel" --frames 7-9 \
        --region 384,0,192,210 --truth-channel nuclei --csv "$model.test.csv" > /dev/null
      total=$(tail -1 "$model.test.csv")
      f1=$(echo "$total" | awk -F, '{print $6}')
      pf1=$(echo "$total" | awk -F, '{print $2}')
      echo "$loss,$drop,$seed,$f1,$pf1" | tee -a "$out_csv"
    done
  done
done
.venv/bin/python - "$out_csv" "$out_png" "$channel" <<'EOF'
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

rows = list(csv.DictReader(open(sys.argv[1])))
fig, ax = plt.subplots(figsize=(5, 3.5))
for loss, label in [("naive", "naive loss (unlabelled = background)"),
                    ("incomplete", "--labels-incomplete")]:
    drops = sorted({int(r["dropped_percent"]) for r in rows if r["loss"] == loss})
    if not drops:
        continue
    f1 = [[float(r["test_object_f1"]) for r in rows
           if r["loss"] == loss and int(r["dropped_percent"]) == d] for d in drops]
    ax.errorbar(drops, [np.mean(v) for v in f1], yerr=[np.std(v) for v in f1], marker="o",
                capsize=3, label=label)
ax.set_xlabel("nuclei left out of the training labels (%)")
ax.set_ylabel("test object F1 (IoU 0.5)")
ax.set_ylim(0, 1)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
channel = {"oblique": "oblique light"}.get(sys.argv[3], sys.argv[3] + " channel")
ax.set_title(f"ndev scratch assay, {channel}; complete test labels", fontsize=9)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
print("wrote", sys.argv[2])
EOF
