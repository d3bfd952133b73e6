"""Prepares the paired transmitted-light datasets for the generalist nuclei model and its
leave-one-dataset-out runs: train and test parts of each, one brightfield TIFF per field with its
target (stain or labels) beside it, calibrated, plus the sources files `brightseg train nuclei
--sources` reads. Test parts are only ever scored, never trained or tuned on.

Usage: prepare.py SHARED_DATA OUT      (SHARED_DATA: the folder holding celldetective_adcc/ and
brifiseg_bf/; the ndev file is read from data/ndev, fetched by scripts/fetch-data.sh)

Datasets (docs/training.md says where each comes from):
  ndev         scratch assay, oblique light + Hoechst, 0.619 um/px; split in time and space as the
               shipped model: train frames 0-6 x 0-383, test frames 7-9 x 384-575.
  celldetective  ADCC, MCF-7 + NK cells, brightfield + Hoechst, 0.3112 um/px; split by experiment
               (the first part of the file name): every fourth experiment in name order is test.
               Targets and test truth come from the Hoechst channel, as its labels leave the NK
               nuclei out.
  brifiseg     A549, HeLa, MCF-7 (BriFiSeg), DIC-like brightfield + binary masks; no pixel size is
               stored: it is estimated here from the MCF-7 nucleus areas of both MCF-7 sets.
               Split by field number: the last 6 of each cell line's 24 are test.
"""

import json
import os
import sys
from pathlib import Path

import nibabel
import numpy as np
import tifffile
from scipy import ndimage

CELLDETECTIVE_UM = 0.3112


def write(path, plane, pixel_um):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path,
        plane,
        imagej=True,
        resolution=(1 / pixel_um, 1 / pixel_um),
        metadata={"unit": "micron"},
    )


def experiment(name):
    return name.split("_")[0]


def celldetective(shared, out):
    root = shared / "celldetective_adcc"
    names = sorted(p.stem for p in (root / "images").glob("*.tif"))
    experiments = sorted({experiment(n) for n in names})
    test = set(experiments[3::4])
    areas = []
    for n in names:
        meta = json.loads((root / "meta" / f"{n}.json").read_text())
        channels = meta["channels"]
        stack = tifffile.imread(root / "images" / f"{n}.tif")
        part = "test" if experiment(n) in test else "train"
        bf = stack[channels.index("brightfield_channel")]
        hoechst = stack[channels.index("live_nuclei_channel")]
        labels = tifffile.imread(root / "labels" / f"{n}_labelled.tif").astype(np.uint16)
        d = out / "celldetective" / part
        write(d / f"{n}.tif", bf, CELLDETECTIVE_UM)
        write(d / "stain" / f"{n}.tif", hoechst, CELLDETECTIVE_UM)
        write(d / "labels" / f"{n}.tif", labels, CELLDETECTIVE_UM)
        if not n.startswith("detran"):  # looks more magnified than 0.3112 um (README)
            areas.extend(np.bincount(labels.ravel())[1:].tolist())
    areas = [a for a in areas if a > 0]
    print(f"celldetective: {len(names)} fields, test experiments {sorted(test)}")
    return float(np.median(areas))


def brifiseg(shared, out, celldetective_median_px):
    root = shared / "brifiseg_bf"
    tasks = {"A549": "Task001_A549", "HeLa": "Task010_HELA", "MCF-7": "Task011_MCF7"}
    loaded = {}
    for line, task in tasks.items():
        fields = []
        for image in sorted((root / task / "imagesTs").glob("*_0000.nii.gz")):
            stem = image.name.replace("_0000.nii.gz", "")
            bf = np.asarray(nibabel.load(image).dataobj)[..., 0].T.astype(np.float32)
            mask = np.asarray(nibabel.load(root / task / "labelsTs" / f"{stem}.nii.gz").dataobj)
            labels, _ = ndimage.label(mask[..., 0].T > 0.5)
            fields.append((stem, bf, labels.astype(np.uint16)))
        loaded[line] = fields
    # Same cell line, same nucleus size: the pixel size that gives BriFiSeg's MCF-7 nuclei the
    # median area of celldetective's MCF-7 labels.
    mcf7 = [a for _, _, l in loaded["MCF-7"] for a in np.bincount(l.ravel())[1:] if a > 0]
    pixel_um = CELLDETECTIVE_UM * (celldetective_median_px / float(np.median(mcf7))) ** 0.5
    pixel_um = round(pixel_um, 3)
    for line, fields in loaded.items():
        for k, (stem, bf, labels) in enumerate(fields):
            part = "test" if k >= len(fields) - 6 else "train"
            d = out / "brifiseg" / line / part
            write(d / f"{stem}.tif", bf, pixel_um)
            write(d / "labels" / f"{stem}.tif", labels, pixel_um)
    print(
        f"brifiseg: pixel size estimated {pixel_um} um (MCF-7 median nucleus "
        f"{np.median(mcf7):.0f} px against celldetective's {celldetective_median_px:.0f} px at "
        f"{CELLDETECTIVE_UM} um)"
    )
    return pixel_um


NDEV = """  - name: ndev scratch assay
    about: "ndev-sampledata 0.0.3 (BSD-3-Clause), oblique light, targets from Hoechst; frames 0-6, x 0-383"
    images: [{ndev}]
    brightfield: oblique
    fluorescence: H3342
    frames: 0-6
    region: 0,0,384,210
"""
CELLDETECTIVE = """  - name: celldetective ADCC
    about: "celldetective @ eaef61d2 (MIT), MCF-7 + NK brightfield, targets from Hoechst; training experiments"
    images: [celldetective/train/*.tif]
    fluorescence: 1
    fluorescence_images: [celldetective/train/stain/*.tif]
"""
BRIFISEG = """  - name: BriFiSeg {line}
    about: "BriFiSeg @ 24dea271 (Apache-2.0), {line} DIC-like brightfield, binary masks; fields 1-18"
    images: [brifiseg/{line}/train/*.tif]
    masks: [brifiseg/{line}/train/labels/*.tif]
"""


def sources(out, ndev):
    blocks = {
        "ndev": NDEV.format(ndev=ndev),
        "celldetective": CELLDETECTIVE,
        "brifiseg": "".join(BRIFISEG.format(line=l) for l in ["A549", "HeLa", "MCF-7"]),
    }
    runs = {"all": list(blocks)} | {
        f"without-{left}": [d for d in blocks if d != left] for left in blocks
    }
    for run, datasets in runs.items():
        text = "# written by scripts/generalist/prepare.py\npixel_size: 0.619\nsources:\n"
        text += "".join(blocks[d] for d in datasets)
        (out / f"sources-{run}.yaml").write_text(text)
    print(f"sources files: {', '.join(f'sources-{r}.yaml' for r in runs)}")


def main():
    shared, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    ndev = Path("data/ndev/scratch-assay-labeled-10T-2Ch.tiff").resolve()
    if not ndev.exists():
        sys.exit(f"{ndev} is missing: run scripts/fetch-data.sh first")
    median = celldetective(shared, out)
    brifiseg(shared, out, median)
    sources(out, os.path.relpath(ndev, out.resolve()))


if __name__ == "__main__":
    main()
