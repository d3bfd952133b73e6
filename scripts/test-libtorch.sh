#!/usr/bin/env bash
# The tests of the LibTorch training engine, which CI does not build (7 GB of torch, a second
# build of burn): each engine trains the same seeded run to the same weights and its model gives
# the trainer's numbers through tract and onnxruntime; `brightseg bench` times training steps
# on flex and LibTorch; engine refusals. Run scripts/test.sh once first (data, test oracles).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
. scripts/libtorch-env.sh
cargo test -p brightseg-cli --features libtorch --target-dir target/libtorch --test e2e -- \
  each_engine_trains bench_measures_every_engine training_refuses_bad_requests "$@"
