#!/usr/bin/env python3
"""Re-runs the cheap measured claims of README.md, docs/ and the model cards and reports drift.

Each claim names where it is written, the documented value, how far a rerun may drift from it
(None: a timing, reported but never judged: machines differ), and the command that measures it.
Run through scripts/check-docs.sh, which builds brightseg and fetches the data first. Prints a
Markdown table; exits 1 when a judged claim drifted beyond its tolerance.

    scripts/check-docs.sh                # all claims (about a minute on 2 cores)
    scripts/check-docs.sh targets        # only the claims whose name contains "targets"
"""

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRIGHTSEG = os.environ.get("BRIGHTSEG", str(ROOT / "target" / "debug" / "brightseg"))
NDEV = "data/ndev/scratch-assay-labeled-10T-2Ch.tiff"


def run(args, cwd):
    """Runs brightseg with `args` in `cwd`; returns stdout, failing loudly with stderr."""
    out = subprocess.run([BRIGHTSEG, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"brightseg {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def total_f1(stdout):
    """Object F1 (column 7) of evaluate's total line."""
    line = next(l for l in stdout.splitlines() if l.startswith("total"))
    return float(line.split()[6])


def targets_f1(stdout):
    """The mean of `object F1 at IoU 0.5 against the truth: 0.877 ± …`."""
    m = re.search(r"object F1 at IoU 0\.5 against the truth: ([0-9.]+)", stdout)
    if not m:
        raise RuntimeError(f"no F1 line in:\n{stdout}")
    return float(m.group(1))


def evaluate_shipped_nuclei(work, truth):
    return total_f1(run(["evaluate", str(ROOT / NDEV), "--model", "nuclei-brightfield",
                         "--channel", "oblique", "--frames", "7-9", "--region",
                         "384,0,192,210", *truth], work))


def validation_strip(work, truth):
    return total_f1(run(["evaluate", str(ROOT / NDEV), "--model", "nuclei-brightfield",
                         "--channel", "oblique", "--frames", "0-6", "--region",
                         "288,0,96,210", *truth], work))


def shipped_artifacts_iou(work):
    tiles = work / "artifact-tiles"
    run(["synth-artifacts", str(ROOT / NDEV), "--channel", "oblique", "--frames", "7-9",
         "--seed", "2", "--out", str(tiles)], work)
    images = sorted((tiles / "images").iterdir())
    truths = [tiles / "truth" / p.name for p in images]
    table = work / "artifacts.csv"
    run(["evaluate", *map(str, images), "--model", "artifacts-brightfield", "--no-split",
         "--truth", *map(str, truths), "--csv", str(table)], work)
    rows = list(csv.DictReader(open(table)))
    total = next(r for r in rows if r[next(iter(r))] == "total")
    return float(total["pixel_iou"])


def dapi_quality_floor(work):
    model = work / "dapi-floor"
    image, mask = ROOT / "data/mnfinder/4.tif", ROOT / "data/mnfinder/4.png"
    run(["train", "nuclei", str(image), "--masks", str(mask), "--region", "0,0,652,768",
         "--pixel-size", "0.5", "--architecture", "fast", "--batch", "4", "--patch", "128",
         "--seed", "2", "--jobs", "2", "--quiet", "--epochs", "20", "--steps", "10",
         "--out", str(model)], work)
    return total_f1(run(["evaluate", str(image), "--truth", str(mask), "--region",
                         "652,0,217,768", "--pixel-size", "0.5", "--model", str(model)], work))


def standard_step_seconds(work):
    out = work / "step-time"
    run(["train", "nuclei", str(ROOT / NDEV), "--brightfield", "oblique", "--fluorescence",
         "H3342", "--frames", "0-6", "--architecture", "standard", "--epochs", "2", "--steps",
         "20", "--jobs", "2", "--quiet", "--out", str(out)], work)
    report = (out / "training.json").read_text()
    seconds = [float(s) for s in re.findall(r'"seconds":\s*([0-9.]+)', report)]
    if not seconds:
        raise RuntimeError("training.json holds no epoch times")
    return seconds[-1] / 20


# (name, where it is written, documented value, tolerance or None, measurement)
CLAIMS = [
    ("shipped nuclei model, test region vs labels (object F1)",
     "README.md, models/nuclei-brightfield/README.md", 0.487, 0.005,
     lambda w: evaluate_shipped_nuclei(w, ["--truth-channel", "nuclei"])),
    ("shipped nuclei model, test region vs Hoechst targets (object F1)",
     "models/nuclei-brightfield/README.md", 0.528, 0.005,
     lambda w: evaluate_shipped_nuclei(w, ["--truth-from-fluorescence", "H3342"])),
    ("shipped nuclei model, validation strip vs labels (object F1)",
     "docs/training.md", 0.456, 0.005,
     lambda w: validation_strip(w, ["--truth-channel", "nuclei"])),
    ("shipped nuclei model, validation strip vs Hoechst targets (object F1)",
     "docs/training.md", 0.571, 0.005,
     lambda w: validation_strip(w, ["--truth-from-fluorescence", "H3342"])),
    ("targets from ndev's Hoechst vs its labels (object F1, mean of 10 frames)",
     "README.md", 0.877, 0.005,
     lambda w: targets_f1(run(["targets", str(ROOT / NDEV), "--fluorescence", "H3342",
                               "--brightfield", "oblique", "--truth-channel", "nuclei",
                               "--register", "--out", str(w / "targets-ndev")], w))),
    ("targets of StarDist's img2d vs mask2d (object F1)",
     "README.md", 0.748, 0.005,
     lambda w: targets_f1(run(["targets", str(ROOT / "data/stardist/img2d.tif"),
                               "--fluorescence", "1", "--truth",
                               str(ROOT / "data/stardist/mask2d.tif"), "--pixel-size", "1",
                               "--out", str(w / "targets-stardist")], w))),
    ("shipped artifact model, held-out synthetic tiles (pooled pixel IoU)",
     "README.md, docs/artifacts.md", 0.630, 0.005, shipped_artifacts_iou),
    ("trainer quality floor: 200 steps on DAPI, held-out quarter (object F1)",
     "tests/e2e/training.rs", 0.920, 0.03, dapi_quality_floor),
    ("training, standard U-Net, seconds per step (2 threads, validation included)",
     "README.md", 0.7, None, standard_step_seconds),
]


def main():
    wanted = sys.argv[1:]
    claims = [c for c in CLAIMS if not wanted or any(w in c[0] for w in wanted)]
    drifted = 0
    print("| claim | where | documented | measured now | drift |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="brightseg-check-docs-") as tmp:
        for name, where, documented, tolerance, measure in claims:
            start = time.time()
            try:
                value = measure(Path(tmp))
                text = f"{value:.3f}"
                if tolerance is None:
                    verdict = "timing: not judged"
                elif abs(value - documented) <= tolerance:
                    verdict = "ok"
                else:
                    verdict = f"**DRIFT** (tolerance {tolerance})"
                    drifted += 1
            except Exception as e:  # one failing claim must not hide the others
                text, verdict = "—", f"**FAILED**: {str(e).splitlines()[0]}"
                drifted += 1
            print(f"| {name} | {where} | {documented} | {text} | {verdict} |", flush=True)
            print(f"  ({time.time() - start:.0f} s)", file=sys.stderr)
    print()
    print(f"{len(claims)} claim(s) checked, {drifted} drifted or failed")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
