#!/usr/bin/env bash
# Sets up everything and runs all tests: unit tests, end-to-end tests on real images with the
# real CLI, and the oracle comparisons (onnxruntime, scikit-image, SciPy).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
cargo test --workspace --no-fail-fast
