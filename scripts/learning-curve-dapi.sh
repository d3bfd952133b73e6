#!/usr/bin/env bash
# Learning curve with few labelled whole images, on nuclear-stain (DAPI) images with hand-checked
# nucleus masks: object F1 on 4 fixed test images against the number of labelled training images
# (1, 2, 4, 8, 16), mean ± sd over 3 seeds, for a U-Net trained from scratch on the labels and
# one first trained with no labels at all (targets from the stain by `brightseg targets`' classical
# pipeline, on all 19 pool images) and then fine-tuned on the labels. Writes
# docs/learning-curve-dapi.csv and .png. Not part of CI (about 40 minutes on 2 cores).
#
# Data: mnfinder 1.2.3's RPE1 and U2OS DAPI images (768×869, 16 bit; MIT) with their
# `nucleus_masks`. Test: test-data U2OS 4 and training-data RPE1 2022-03-18/5, RPE1
# 2022-05-27/3 and U2OS 9 (510 nuclei), never trained on; pool: the other 19 images
# (training-data and validation-data). The files state no pixel size: 0.5 µm is assumed (median
# nucleus 556 px = 139 µm²). Validation: the right quarter of each labelled image.
#
#   SIZES="1 2 4 8 16" SEEDS="1 2 3" EPOCHS=60 STEPS=40 ARCH=fast STARTS="scratch finetune" \
#     scripts/learning-curve-dapi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1 2 4 8 16}"
seeds="${SEEDS:-1 2 3}"
epochs="${EPOCHS:-60}"
steps="${STEPS:-40}"
arch="${ARCH:-fast}"
work="${WORK:-results/learning-curve-dapi}"
out_csv="${OUT_CSV:-docs/learning-curve-dapi.csv}"
out_png="${OUT_PNG:-docs/learning-curve-dapi.png}"
data="${BRIGHTSEG_DATA:-data}/mnfinder-curve"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/python -m pip install --quiet matplotlib

if [ ! -f "$data/.complete" ]; then
  .venv/bin/python - "${BRIGHTSEG_DATA:-data}/wheels" "$data" <<'PY'
import glob, os, sys, zipfile
wheels, out = sys.argv[1:]
test = {
    "test-data/2022-10-14_U2OS/images/4.tif",
    "training-data/2022-03-18_RPE1/images/5.tif",
    "training-data/2022-05-27_RPE1/images/3.tif",
    "training-data/2022-10-14_U2OS/images/9.tif",
}
wheel = zipfile.ZipFile(sorted(glob.glob(os.path.join(wheels, "mnfinder-1.2.3-*.whl")))[0])
for part in ("pool", "test"):
    os.makedirs(os.path.join(out, part), exist_ok=True)
for member in sorted(wheel.namelist()):
    rel = member.removeprefix("mnfinder/")
    if not (rel.endswith(".tif") and "/images/" in rel and ("_RPE1/" in rel or "_U2OS/" in rel)):
        continue
    split, day = rel.split("/")[:2]
    name = f"{split.split('-')[0]}_{day}_{os.path.basename(rel)[:-4]}"
    part = "test" if rel in test else "pool"
    mask = member.replace("/images/", "/nucleus_masks/")[:-4] + ".png"
    for src, dst in ((member, f"{name}.tif"), (mask, f"{name}.mask.png")):
        with open(os.path.join(out, part, dst), "wb") as f:
            f.write(wheel.read(src))
PY
  touch "$data/.complete"
fi
pool=("$data"/pool/*.tif)
masks=("$data"/pool/*.mask.png)
test_images=("$data"/test/*.tif)
test_masks=("$data"/test/*.mask.png)
echo "pool: ${#pool[@]} images, test: ${#test_images[@]} images"

cargo build --quiet -p brightseg-cli
mkdir -p "$work" "$(dirname "$out_csv")"
bin="$work/brightseg"
cp target/debug/brightseg "$bin"
common=(--pixel-size 0.5 --architecture "$arch" --epochs "$epochs" --steps "$steps" --patience 20 --quiet)
score() { # model name → "object F1,pixel F1" on the test images
  "$bin" evaluate "${test_images[@]}" --truth "${test_masks[@]}" --pixel-size 0.5 \
    --model "$1" --csv "$1.test.csv" > /dev/null
  tail -1 "$1.test.csv" | awk -F, '{print $6 "," $2}'
}

# No labels: targets from the stain itself on every pool image.
unlabelled="$work/stain-targets"
if [ ! -f "$unlabelled/bioimageio.yaml" ]; then
  "$bin" train nuclei "${pool[@]}" --fluorescence-images "${pool[@]}" "${common[@]}" --seed 1 \
    --training-data "mnfinder 1.2.3 RPE1/U2OS DAPI pool (19 images), targets from the stain" \
    --out "$unlabelled" > "$unlabelled.log" 2>&1 || { cat "$unlabelled.log"; exit 1; }
fi
echo "start,images,seed,test_object_f1,test_pixel_f1" > "$out_csv"
echo "stain-targets,0,1,$(score "$unlabelled")" | tee -a "$out_csv"
for start in ${STARTS:-scratch finetune}; do
  from=()
  [ "$start" = finetune ] && from=(--from "$unlabelled")
  for n in $sizes; do
    for seed in $seeds; do
      model="$work/$start-n$n-s$seed"
      "$bin" train nuclei "${pool[@]}" --masks "${masks[@]}" --pick-seed "$seed" --max-images "$n" \
        "${common[@]}" --seed "$seed" "${from[@]}" --out "$model" > "$model.log" 2>&1 \
        || { cat "$model.log"; exit 1; }
      echo "$start,$n,$seed,$(score "$model")" | tee -a "$out_csv"
    done
  done
done
.venv/bin/python scripts/plot_learning_curve.py "$out_csv" "$out_png" \
  "labelled training images (whole 768×869 DAPI images)" \
  "scratch=from scratch on the labels" \
  "finetune=stain-trained (no labels), then fine-tuned on the labels"
