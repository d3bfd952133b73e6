"""The outside reference of `brightseg bench`: Python onnxruntime, with its default session
settings, on the same ONNX file and the same input tile as brightseg's engines.

Usage: python onnxruntime_reference.py MODEL.onnx TILE.f32 SHAPE THREADS cpu|cuda
(TILE.f32: little-endian float32 values of SHAPE, written like 1x1x512x512.)
Prints key=value lines (version, providers) and then "ready", or error=... when it cannot run.
Then, for every line COUNT it reads, it runs the tile COUNT times and prints ms_per_tile=...;
it ends at the end of its input. So the bench can let the engines take turns, round by round.
"""
import sys
import time

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    print(f"error=cannot import onnxruntime/numpy ({e}): pip install onnxruntime", flush=True)
    sys.exit(0)

onnx, raw, shape, threads, provider = sys.argv[1:6]
shape = [int(s) for s in shape.split("x")]
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
    print("error=the CUDA provider did not start in Python onnxruntime", flush=True)
    sys.exit(0)
name = session.get_inputs()[0].name
for _ in range(2):
    session.run(None, {name: x})
print(f"version={ort.__version__}")
print(f"providers={'+'.join(session.get_providers())}")
print("ready", flush=True)
for line in sys.stdin:
    count = int(line)
    start = time.perf_counter()
    for _ in range(count):
        session.run(None, {name: x})
    elapsed = time.perf_counter() - start
    print(f"ms_per_tile={elapsed * 1000 / count}", flush=True)
