"""Seed corpora for the fuzz targets (scripts/fuzz.sh), cut from real files: small crops of
StarDist's real microscopy image in every layout brightseg reads, the real model descriptions
and ONNX weights of the shared model, and real command lines.

Usage: fuzz_seeds.py OUT_DIR DATA_DIR MODEL_DIR
"""

import io
import struct
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image


def tiff_seeds(img: np.ndarray, mask: np.ndarray, out: Path) -> None:
    crop = img[100:164, 200:248]  # 64 × 48, 16-bit
    gray8 = (crop.astype(np.float64) * 255 / max(int(crop.max()), 1)).astype(np.uint8)
    seeds = {
        "gray16.tif": lambda p: tifffile.imwrite(p, crop),
        "gray8.tif": lambda p: tifffile.imwrite(p, gray8),
        "float32.tif": lambda p: tifffile.imwrite(p, crop.astype(np.float32) / 65535),
        "labels.tif": lambda p: tifffile.imwrite(p, mask[100:164, 200:248]),
        "imagej_calibrated.tif": lambda p: tifffile.imwrite(
            p, crop, imagej=True, resolution=(1 / 0.65, 1 / 0.65), metadata={"unit": "um"}),
        "imagej_hyperstack.tif": lambda p: tifffile.imwrite(
            p, np.stack([np.stack([crop, crop[::-1]])] * 3).astype(np.uint16), imagej=True,
            metadata={"axes": "ZCYX", "unit": "micron"}),
        "imagej_timeseries.tif": lambda p: tifffile.imwrite(
            p, np.stack([crop, crop[::-1, ::-1]]), imagej=True, metadata={"axes": "TYX"}),
        "ome.ome.tif": lambda p: tifffile.imwrite(
            p, np.stack([crop, crop[:, ::-1]]), ome=True,
            metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                      "Channel": {"Name": ["Brightfield", "DAPI"]}}),
        "rgb.tif": lambda p: tifffile.imwrite(
            p, np.dstack([gray8, gray8[::-1], np.zeros_like(gray8)]),
            photometric="rgb"),
        "deflate.tif": lambda p: tifffile.imwrite(p, crop, compression="zlib"),
        "bigtiff.tif": lambda p: tifffile.imwrite(p, crop, bigtiff=True),
        "tiled.tif": lambda p: tifffile.imwrite(p, img[:64, :64], tile=(32, 32)),
    }
    for name, write in seeds.items():
        write(out / name)
    for name, mode, fmt in [("gray.png", "L", "PNG"), ("rgb.png", "RGB", "PNG"),
                            ("gray.jpg", "L", "JPEG")]:
        picture = Image.fromarray(gray8).convert(mode)
        if mode == "RGB":
            picture = Image.merge("RGB", (picture.getchannel(0), Image.fromarray(gray8[::-1]),
                                          picture.getchannel(2)))
        buf = io.BytesIO()
        picture.save(buf, format=fmt)
        (out / name).write_bytes(buf.getvalue())


CLI_SEEDS = [
    ["find-nuclei", "plate/", "--model", "unet2d_nuclei_broad", "--threshold", "0.5",
     "--min-size", "10", "--channel", "DAPI", "--pixel-size", "0.65", "--jobs", "2",
     "--backend", "ort-cpu", "--memory-budget", "8G", "--tile-size", "256", "--shard", "2/8",
     "--probability", "--overlay", "--overwrite", "--out", "results"],
    ["merge", "a", "b", "--out", "all", "--naming", "operetta"],
    ["merge", "a", "--out", "all", "--naming", r"(?P<plate>\w+)_(?P<well>[A-P]\d\d)_f(?P<field>\d+)"],
    ["resources", "--model", "m", "--threads", "4", "--width", "20000", "--height", "20000",
     "--yaml"],
    ["bench", "--threads", "1", "--threads", "2", "--markdown", "B.md", "--cuda"],
    ["models"],
    ["--verbose", "find-nuclei", "--help"],
]

# Planner inputs: width, height, pixel width and height (µm), budget (bytes), tile size, threads
# (index), flags (1: calibrated, 2: accept any pixel size).
PLANNER_SEEDS = [
    (512, 512, 0.619, 0.619, 8 << 30, 768, 1, 1),
    (20000, 20000, 0.5, 0.5, 2 << 30, 512, 1, 1),
    (512, 512, 353.0, 353.0, 2 << 30, 768, 0, 3),
    (4096, 4096, 0.0003112, 0.0003112, 8 << 30, 256, 3, 1),
    (65535, 17, 0.3112, 0.3112, 200 << 20, 64, 7, 0),
]


def main() -> None:
    out, data, model = (Path(a) for a in sys.argv[1:4])
    for target in ["read_image", "model_card", "onnx_model", "cli_args", "planner"]:
        (out / target).mkdir(parents=True, exist_ok=True)
    img = tifffile.imread(data / "stardist/img2d.tif")
    mask = tifffile.imread(data / "stardist/mask2d.tif")
    tiff_seeds(img, mask, out / "read_image")
    for card in ["bioimageio.yaml", "v0_4_9.bioimageio.yaml"]:
        (out / "model_card" / card).write_bytes((model / card).read_bytes())
    (out / "onnx_model" / "weights_dynamic_hw.onnx").write_bytes(
        (model / "weights_dynamic_hw.onnx").read_bytes())
    for i, args in enumerate(CLI_SEEDS):
        (out / "cli_args" / f"args{i}").write_bytes(b"\0".join(a.encode() for a in args))
    for i, numbers in enumerate(PLANNER_SEEDS):
        (out / "planner" / f"plan{i}").write_bytes(struct.pack("<QQddQQQQ", *numbers))


if __name__ == "__main__":
    main()
