#!/usr/bin/env bash
# Fetches the public sample images brightseg uses for examples and tests from PyPI packages
# (no other download) into data/ (or $BRIGHTSEG_DATA), once:
#   data/stardist/img2d.tif, mask2d.tif   fluorescence nuclei + instance labels (BSD-3, stardist 0.9.2)
#   data/ndev/scratch-assay-labeled-10T-2Ch.tiff
#       OME-TIFF: Hoechst, oblique transmitted light, nucleus labels; 10 time points, 0.619 µm/px
#       (BSD-3, ndev-sampledata 0.0.3)
#   data/mnfinder/4.tif, 4.png                DAPI nuclei (U2OS) + colour-coded nucleus masks
#       (MIT, mnfinder 1.2.3)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${BRIGHTSEG_DATA:-data}"
mkdir -p "$data/wheels"

fetch() { # package==version
  local name="${1%%==*}"
  if ! ls "$data/wheels/" | grep -qi "^${name//-/_}-"; then
    python3 -m pip download --quiet --no-deps --dest "$data/wheels" "$1"
  fi
}

extract() { # wheel-glob member target
  python3 - "$@" <<'PY'
import glob, shutil, sys, zipfile, os
pattern, member, target = sys.argv[1:]
wheel = sorted(glob.glob(pattern))[0]
os.makedirs(os.path.dirname(target), exist_ok=True)
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.replace(target + ".part", target)
PY
}

if [ ! -f "$data/stardist/mask2d.tif" ]; then
  fetch stardist==0.9.2
  extract "$data/wheels/stardist-0.9.2-*.whl" stardist/data/images/img2d.tif "$data/stardist/img2d.tif"
  extract "$data/wheels/stardist-0.9.2-*.whl" stardist/data/images/mask2d.tif "$data/stardist/mask2d.tif"
fi
if [ ! -f "$data/ndev/scratch-assay-labeled-10T-2Ch.tiff" ]; then
  fetch ndev-sampledata==0.0.3
  extract "$data/wheels/ndev_sampledata-0.0.3-*.whl" \
    ndev_sampledata/samples/scratch-assay-labeled-10T-2Ch.tiff "$data/ndev/scratch-assay-labeled-10T-2Ch.tiff"
fi
if [ ! -f "$data/mnfinder/4.png" ]; then
  fetch mnfinder==1.2.3
  extract "$data/wheels/mnfinder-1.2.3-*.whl" \
    mnfinder/test-data/2022-10-14_U2OS/images/4.tif "$data/mnfinder/4.tif"
  extract "$data/wheels/mnfinder-1.2.3-*.whl" \
    mnfinder/test-data/2022-10-14_U2OS/nucleus_masks/4.png "$data/mnfinder/4.png"
fi
echo "Sample data ready in $data/"
