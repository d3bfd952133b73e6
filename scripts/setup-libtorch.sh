#!/usr/bin/env bash
# Builds brightseg with the LibTorch training engine (`brightseg train … --engine libtorch`, or
# `libtorch-cuda` on an NVIDIA GPU) as target/libtorch/$PROFILE/brightseg, against the libtorch
# inside PyPI's torch 2.9.0 (installed into .venv-torch; see scripts/libtorch-env.sh).
# PROFILE=dev for the tests' profile (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
. scripts/libtorch-env.sh
cargo build --profile "$profile" -p brightseg-cli --features libtorch --target-dir target/libtorch
dir="$profile"; [ "$profile" = dev ] && dir=debug
echo "built target/libtorch/$dir/brightseg: brightseg train nuclei … --engine libtorch"
