#!/usr/bin/env bash
# The one-field fine-tune (issue 28 item 3), as a lab would run it: a model that never saw the
# dataset (the shipped model, or the leave-one-dataset-out model without it) is fine-tuned on ONE
# paired field of a new experiment and scored on the experiment's other fields, against minutes
# of training:
#   0        the starting model as it is
#   default  `train nuclei --from MODEL FIELD ...` with its defaults (keeps the best validation
#            epoch, stops after 12 epochs without a better one)
#   last30, last60  --keep last --epochs 30 / 60 (every epoch runs; the last one is kept)
#   last200  --keep last --epochs 200
#   last60-strong  last60 with stronger augmentation (scale ±30 %, defocus blur up to σ 1.5 px,
#            noise up to σ 0.05)
#   lowest-loss  --keep lowest-loss (the epoch with the lowest validation loss, patience 12)
# RUNS="last60 last60-strong" picks the runs (default: default last60 last200).
# Writes results/generalist/one-field/scores.csv. Not part of CI (about 30 minutes on 2 cores).
# CASES="celldetective-feb brifiseg-HeLa ndev" picks the cases (default: the last two).
# Needs scripts/generalist/leave-one-out.sh run first (its models and prepared data).
# START=MODEL starts every case from that model instead of the case's own; TRAIN_FLAGS adds
# flags to every training run and TRAIN_BIN names the binary that trains, e.g. for the
# standard network on LibTorch (after `. scripts/libtorch-env.sh`):
#   START=results/generalist-balanced-standard/without-brifiseg TRAIN_FLAGS="--engine libtorch" \
#   TRAIN_BIN=target/libtorch/debug/brightseg OUT=results/generalist/one-field-generalist \
#   CASES="brifiseg-A549 brifiseg-HeLa brifiseg-MCF-7" RUNS="default last30" scripts/generalist/one-field.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
data=data/generalist
models=results/generalist
out=${OUT:-results/generalist/one-field}
bin=target/debug/brightseg
train_bin=${TRAIN_BIN:-$bin}
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
mkdir -p "$out"
cd_test=$data/celldetective/test
ndev=data/ndev/scratch-assay-labeled-10T-2Ch.tiff

# Each case: name, starting model, the training field's flags, the test's evaluate flags.
case_args() {
  case "$1" in
    celldetective-feb)
      start=$models/without-celldetective
      train=("$cd_test/feb_402_snap_2_0_45.tif" --fluorescence 1
             --fluorescence-images "$cd_test/stain/feb_402_snap_2_0_45.tif")
      test=("$cd_test/feb_502_snap_2_2_35.tif" "$cd_test/feb_502_snap_3_2_5.tif"
            --truth-from-fluorescence 1 --truth-from-fluorescence-images
            "$cd_test/stain/feb_502_snap_2_2_35.tif" "$cd_test/stain/feb_502_snap_3_2_5.tif") ;;
    brifiseg-*)
      start=models/nuclei-brightfield
      local line="$data/brifiseg/${1#brifiseg-}/test"
      local fields=("$line"/*.tif)
      train=("${fields[0]}" --masks "$line/labels/$(basename "${fields[0]}")")
      test=("${fields[@]:1}" --truth)
      for f in "${fields[@]:1}"; do test+=("$line/labels/$(basename "$f")"); done ;;
    ndev)
      start=$models/without-ndev
      train=("$ndev" --brightfield oblique --fluorescence H3342 --frames 0 --region 0,0,384,210)
      test=("$ndev" --channel oblique --frames 7-9 --region 384,0,192,210 --truth-channel nuclei) ;;
  esac
  start=${START:-$start}
}

total() { # CSV → object F1 of its total row
  python3 -c 'import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]["object_f1"])' "$1"
}

echo "case,minutes,object_f1,run" > "$out/scores.csv"
for name in ${CASES:-brifiseg-HeLa ndev}; do
  case_args "$name"
  "$bin" evaluate "${test[@]}" --model "$start" --csv "$out/$name-start.csv" > /dev/null
  echo "$name,0,$(total "$out/$name-start.csv"),starting model $start" >> "$out/scores.csv"
  for run in ${RUNS:-default last60 last200}; do
    model="$out/$name-$run"
    extra=()
    case "$run" in
      last30) extra=(--keep last --epochs 30) ;;
      last60) extra=(--keep last --epochs 60) ;;
      last200) extra=(--keep last --epochs 200) ;;
      last60-strong) extra=(--keep last --epochs 60 --augment-scale 0.3 --augment-blur 1.5
                            --augment-noise 0.05) ;;
      lowest-loss) extra=(--keep lowest-loss) ;;
    esac
    rm -rf "$model"
    start_s=$(date +%s)
    "$train_bin" train nuclei "${train[@]}" --from "$start" --seed 1 --jobs 2 --quiet \
      "${extra[@]}" "${train_flags[@]}" --out "$model" 2> "$model.log"
    minutes=$(python3 -c "print(round(($(date +%s) - $start_s) / 60, 1))")
    rm -rf "$model/.checkpoints"
    "$bin" evaluate "${test[@]}" --model "$model" --csv "$out/$name-$run.csv" > /dev/null
    val=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["val_f1"], 3))' \
      "$model/training.json")
    echo "$name,$minutes,$(total "$out/$name-$run.csv"),$run (validation F1 $val)" >> "$out/scores.csv"
  done
done
cat "$out/scores.csv"
