"""The outside reference of `brightseg bench`: Python onnxruntime, with its default session
settings, on the same ONNX file and the same input tile as brightseg's engines.

Usage: python onnxruntime_reference.py MODEL.onnx TILE.f32 SHAPE THREADS COUNT cpu|cuda
(TILE.f32: little-endian float32 values of SHAPE, written like 1x1x512x512.)
Prints key=value lines: ms_per_tile, version, providers; or error=... when it cannot run.
"""
import sys
import time

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    print(f"error=cannot import onnxruntime/numpy ({e}): pip install onnxruntime")
    sys.exit(0)

onnx, raw, shape, threads, count, provider = sys.argv[1:7]
shape = [int(s) for s in shape.split("x")]
count = int(count)
x = np.fromfile(raw, dtype="<f4").reshape(shape)
options = ort.SessionOptions()
options.intra_op_num_threads = int(threads)
options.inter_op_num_threads = 1
providers = ["CPUExecutionProvider"]
if provider == "cuda":
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception:  # the CUDA libraries may be found another way
            pass
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
session = ort.InferenceSession(onnx, options, providers=providers)
if provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
    print("error=the CUDA provider did not start in Python onnxruntime")
    sys.exit(0)
name = session.get_inputs()[0].name
for _ in range(2):
    session.run(None, {name: x})
start = time.perf_counter()
for _ in range(count):
    session.run(None, {name: x})
elapsed = time.perf_counter() - start
print(f"ms_per_tile={elapsed * 1000 / count}")
print(f"version={ort.__version__}")
print(f"providers={'+'.join(session.get_providers())}")
