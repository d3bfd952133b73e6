#!/usr/bin/env bash
# Trains the generalist nuclei model on every paired dataset we have, and the
# leave-one-dataset-out models (each trained without one dataset), then scores every model on
# every dataset's held-out test part (never trained or tuned on). Writes
# results/generalist/scores.csv and a Markdown table of object F1 at IoU 0.5 with the share of
# uncertain pixels (the fit signal) in brackets (docs/training.md quotes it).
# Not part of CI: about 12 minutes per model on 2 cores (4 models), plus scoring.
#
# Usage: scripts/generalist/leave-one-out.sh [EPOCHS] (default 130: about 12 minutes on 2 cores;
#   the learning rate decays over them, and a time budget of 1.2× that stops a slower machine)
#   SHARED_DATA=... where celldetective_adcc/ and brifiseg_bf/ are (default ../shared/data)
#   RUNS="all without-ndev" to train only some of the models (scoring covers what exists)
#   TRAIN_FLAGS="--augment-invert ..." adds training options (e.g. augmentation), and
#   OUT=results/generalist-augmented keeps those models apart
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs="${1:-130}"
data=data/generalist
out="${OUT:-results/generalist}"
runs="${RUNS:-all without-ndev without-celldetective without-brifiseg}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/generalist/prepare-data.sh
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
cargo build --quiet --workspace
bin=target/debug/brightseg
mkdir -p "$out"

for run in $runs; do
  [ -f "$out/$run/model.onnx" ] && continue
  echo "== training $run ($epochs epochs)"
  "$bin" train nuclei --sources "$data/sources-$run.yaml" \
    --architecture fast --epochs "$epochs" --steps 60 --patience "$epochs" --seed 1 --jobs 2 \
    --time-budget "$((epochs * 66 / 10))s" --license MIT --quiet ${TRAIN_FLAGS:-} --out "$out/$run" \
    2> "$out/$run.log"
  rm -rf "$out/$run/.checkpoints"
done

# score MODEL DATASET: one CSV of the model on the dataset's test part, total row last.
score() {
  local model="$1" set="$2" csv="$out/scores/$1--$2.csv"
  mkdir -p "$out/scores"
  case "$set" in
    ndev) "$bin" evaluate data/ndev/scratch-assay-labeled-10T-2Ch.tiff --model "$out/$model" \
            --channel oblique --frames 7-9 --region 384,0,192,210 --truth-channel nuclei \
            --csv "$csv" ;;
    celldetective) "$bin" evaluate $data/celldetective/test/*.tif --model "$out/$model" \
            --truth-from-fluorescence 1 \
            --truth-from-fluorescence-images $data/celldetective/test/stain/*.tif --csv "$csv" ;;
    brifiseg-*) local line="${set#brifiseg-}"
          "$bin" evaluate $data/brifiseg/$line/test/*.tif --model "$out/$model" \
            --truth $data/brifiseg/$line/test/labels/*.tif --csv "$csv" ;;
  esac > /dev/null
}
sets="ndev celldetective brifiseg-A549 brifiseg-HeLa brifiseg-MCF-7"
for run in shipped $runs; do
  [ "$run" = shipped ] && { rm -rf "$out/shipped"; cp -r models/nuclei-brightfield "$out/shipped"; }
  for set in $sets; do score "$run" "$set"; done
done

"$py" - "$out" $sets <<'PY'
import csv, sys, pathlib
out, sets = pathlib.Path(sys.argv[1]), sys.argv[2:]
models = sorted({p.name.split("--")[0] for p in (out / "scores").glob("*.csv")},
                key=lambda m: (m != "shipped", m != "all", m))
rows = []
for m in models:
    for s in sets:
        p = out / "scores" / f"{m}--{s}.csv"
        if not p.exists():
            continue
        total = list(csv.DictReader(p.open()))[-1]
        rows.append({"model": m, "test set": s, **{k: total[k] for k in total if k != "image"}})
with (out / "scores.csv").open("w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print("| model | " + " | ".join(sets) + " |")
print("|---|" + "---|" * len(sets))
for m in models:
    cells = []
    for s in sets:
        r = next((r for r in rows if r["model"] == m and r["test set"] == s), None)
        cells.append(f"{float(r['object_f1']):.3f} ({float(r['uncertain_percent']):.0f} %)" if r else "—")
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
