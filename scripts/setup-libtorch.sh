#!/usr/bin/env bash
# Builds brightseg with the LibTorch training engine (`brightseg train … --engine libtorch`, or
# `libtorch-cuda` on an NVIDIA GPU): installs PyPI's torch 2.9.0 (the version burn's tch backend
# is built for; the Linux wheel is the CUDA build, about 7 GB installed with its nvidia-* wheels)
# into .venv-torch, and builds target/libtorch/$PROFILE/brightseg against the libtorch inside it,
# with that library's folder as the binary's run path. Nothing is downloaded outside PyPI and
# crates.io. PROFILE=dev for the CI profile (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
[ -x .venv-torch/bin/python ] || python3 -m venv .venv-torch
.venv-torch/bin/python -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null ||
  .venv-torch/bin/pip install -q torch==2.9.0
torch_lib="$(.venv-torch/bin/python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
# The build script of torch-sys imports torch to find libtorch (LIBTORCH_USE_PYTORCH).
PATH="$PWD/.venv-torch/bin:$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_INCREMENTAL=0 \
  RUSTFLAGS="-C link-arg=-Wl,-rpath,$torch_lib" \
  cargo build --profile "$profile" -p brightseg-cli --features libtorch --target-dir target/libtorch
dir="$profile"; [ "$profile" = dev ] && dir=debug
echo "built target/libtorch/$dir/brightseg: brightseg train nuclei … --engine libtorch"
