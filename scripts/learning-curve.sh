#!/usr/bin/env bash
# Learning curve with few labelled images: object F1 on a fixed test region against the number
# of labelled training images (1, 2, 4, 8, 16), mean ± sd over 3 seeds, for a U-Net trained from
# scratch and one fine-tuned from the shipped brightfield model. Writes docs/learning-curve.csv
# and docs/learning-curve.png. Not part of CI (about half an hour on 2 cores; see the variables below).
#
# Data: ndev-sampledata's scratch assay, oblique transmitted light, with the dataset's own
# `nuclei` label channel as the "manual" labels. An "image" is a 96×105 tile of the training
# region (frames 0-6, x 0-287: 42 tiles), drawn at random per seed; validation is fixed
# (frames 0-6, x 288-383); the test region (frames 7-9, x 384-575) is never trained on.
#
#   SIZES="1 2 4 8 16" SEEDS="1 2 3" EPOCHS=60 STEPS=20 ARCH=fast STARTS="scratch finetune" \
#     FINETUNE_LR=5e-4 scripts/learning-curve.sh
# (ARCH: the network trained from scratch; fine-tuning keeps the starting model's, starts at
# the lower learning rate FINETUNE_LR, and keeps the starting model when no epoch beats it on
# the validation region.)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1 2 4 8 16}"
seeds="${SEEDS:-1 2 3}"
epochs="${EPOCHS:-60}"
steps="${STEPS:-20}"
start_model="${START_MODEL:-models/nuclei-brightfield}"
work="${WORK:-results/learning-curve}"
out_csv="${OUT_CSV:-docs/learning-curve.csv}"
out_png="${OUT_PNG:-docs/learning-curve.png}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/python -m pip install --quiet matplotlib
cargo build --quiet -p brightseg-cli
image=data/ndev/scratch-assay-labeled-10T-2Ch.tiff
mkdir -p "$work" "$(dirname "$out_csv")"
# A private copy: rebuilding the workspace during this hours-long run must not change the
# program halfway through the curve.
bin="$work/brightseg"
cp target/debug/brightseg "$bin"
echo "start,images,seed,test_object_f1,test_pixel_f1" > "$out_csv"
for start in ${STARTS:-scratch finetune}; do
  from=()
  if [ "$start" = finetune ]; then
    [ -d "$start_model" ] || { echo "no $start_model: skipping fine-tuning"; continue; }
    from=(--from "$start_model" --learning-rate "${FINETUNE_LR:-5e-4}")
  fi
  for n in $sizes; do
    for seed in $seeds; do
      model="$work/$start-n$n-s$seed"
      "$bin" train nuclei "$image" --brightfield oblique --mask-channel nuclei \
        --frames 0-6 --region 0,0,288,210 --tile 96x105 --pick-seed "$seed" --max-images "$n" \
        --val-frames 0-6 --val-region 288,0,96,210 \
        --architecture "${ARCH:-fast}" --epochs "$epochs" --steps "$steps" --patience 10 --seed "$seed" \
        "${from[@]}" --quiet --out "$model" > "$model.log" 2>&1 || { cat "$model.log"; exit 1; }
      "$bin" evaluate "$image" --model "$model" --channel oblique --frames 7-9 \
        --region 384,0,192,210 --truth-channel nuclei --csv "$model.test.csv" > /dev/null
      total=$(tail -1 "$model.test.csv")
      f1=$(echo "$total" | awk -F, '{print $6}')
      pf1=$(echo "$total" | awk -F, '{print $2}')
      echo "$start,$n,$seed,$f1,$pf1" | tee -a "$out_csv"
    done
  done
done
.venv/bin/python scripts/plot_learning_curve.py "$out_csv" "$out_png" \
  "labelled training images (96×105 tiles)" \
  "scratch=from scratch" "finetune=fine-tuned from nuclei-brightfield"
