"""Plots a learning curve CSV (start,images,seed,test_object_f1,...) as mean ± sd per start
against the published anchor, and prints the table. Used by scripts/learning-curve*.sh.

    plot_learning_curve.py CSV PNG "x-axis label" start=legend [start=legend ...]
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

csv_path, png_path, xlabel, *starts = sys.argv[1:]
rows = list(csv.DictReader(open(csv_path)))
by = defaultdict(list)
for r in rows:
    by[(r["start"], int(r["images"]))].append(float(r["test_object_f1"]))
fig, ax = plt.subplots(figsize=(6, 4))
colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
for (start, legend), colour in zip((s.split("=", 1) for s in starts), colours):
    ns = sorted(n for s, n in by if s == start)
    if not ns:
        continue
    mean = [np.mean(by[(start, n)]) for n in ns]
    sd = [np.std(by[(start, n)], ddof=1) if len(by[(start, n)]) > 1 else 0 for n in ns]
    ax.errorbar(ns, mean, yerr=sd, marker="o", capsize=3, color=colour, label=legend)
    for n, m, s in zip(ns, mean, sd):
        print(f"{start:9s} {n:3d} images: object F1 {m:.3f} ± {s:.3f}")
anchor_n = [1, 4, 8, 16]
anchor = np.cumsum([0.48, 0.34, 0.07, 0.03])
ax.plot(anchor_n, anchor, "k--", marker="s", label="published anchor (phase, manual labels)")
ax.set_xscale("log", base=2)
ax.set_xticks([1, 2, 4, 8, 16], ["1", "2", "4", "8", "16"])
ax.set_xlabel(xlabel)
ax.set_ylabel("object F1 at IoU 0.5, test images")
ax.set_ylim(0, 1)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(png_path, dpi=120)
print("wrote", png_path)
