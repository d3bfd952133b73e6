"""Overlay figure of the artifact pipeline on held-out SYNTHETIC tiles: the tile, the true mask,
(a) the ScoreCAM map at 0.5, (b) the MI-selected (refined) pseudo-mask and (c) the U-Net's artifacts.

  python scripts/artifact_figure.py WORK OUT.png   (WORK as in train-artifacts-brightfield.sh)
"""
import csv
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

work, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = list(csv.DictReader(open(work / "cam-test" / "pseudo.csv")))
# The artifact tiles with the largest true masks, a few of each kind of result.
artifact = [r for r in rows if r["label"] == "artifact"]
artifact.sort(key=lambda r: -float(r["iou_pseudo"]))
picked = artifact[:2] + artifact[len(artifact) // 2:len(artifact) // 2 + 2]


def grey(img):
    lo, hi = np.percentile(img, [1, 99.8])
    g = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.stack([g * 255] * 3, -1).astype(np.uint8)


def tint(base, mask, colour):
    out = base.copy().astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array(colour, np.float32)
    return out.astype(np.uint8)


panels = []
for r in picked:
    name = Path(r["file"]).stem
    image = tifffile.imread(work / "test" / "images" / f"{name}.tif")
    truth = tifffile.imread(work / "test" / "truth" / f"{name}.tif") > 0
    cam = tifffile.imread(work / "cam-test" / f"{name}.cam.tif") >= 0.5
    pseudo = tifffile.imread(work / "cam-test" / f"{name}.pseudo.tif") > 0
    unet = tifffile.imread(work / "unet-test" / f"{name}_labels.tif") > 0
    g = grey(image)
    row = [g, tint(g, truth, (0, 200, 0)), tint(g, cam, (230, 0, 0)),
           tint(g, pseudo, (230, 150, 0)), tint(g, unet, (0, 120, 255))]
    gap = np.full((g.shape[0], 4, 3), 255, np.uint8)
    panels.append(np.concatenate(sum([[p, gap] for p in row], [])[:-1], 1))
sep = np.full((4, panels[0].shape[1], 3), 255, np.uint8)
figure = np.concatenate(sum([[p, sep] for p in panels], [])[:-1], 0)
Image.fromarray(figure).resize((figure.shape[1] * 2, figure.shape[0] * 2), Image.NEAREST).save(out)
print("wrote", out, "(columns: tile, truth, (a) ScoreCAM ≥ 0.5, (b) MI pseudo-mask (refined), (c) U-Net)")
