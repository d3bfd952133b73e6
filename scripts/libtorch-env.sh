# Sourced by scripts/setup-libtorch.sh and scripts/test-libtorch.sh: installs PyPI's torch 2.9.0
# (the version burn's tch backend is built for; the Linux wheel is the CUDA build, about 7 GB
# installed with its nvidia-* wheels) into .venv-torch when it is missing, and exports what
# cargo needs to build against the libtorch inside it: the venv's python first on PATH (the
# build script of torch-sys imports torch to find libtorch, LIBTORCH_USE_PYTORCH) and that
# library's folder as the run path of what is linked. Nothing is downloaded outside PyPI and
# crates.io.
[ -x .venv-torch/bin/python ] || python3 -m venv .venv-torch
.venv-torch/bin/python -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null ||
  .venv-torch/bin/pip install -q torch==2.9.0
torch_lib="$(.venv-torch/bin/python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export PATH="$PWD/.venv-torch/bin:$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_INCREMENTAL=0
export RUSTFLAGS="-C link-arg=-Wl,-rpath,$torch_lib"
