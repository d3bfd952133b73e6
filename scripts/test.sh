#!/usr/bin/env bash
# Sets up everything and runs all tests: Rust unit tests; the Java API's and the Fiji plugin's
# JUnit tests across the JNI boundary; end-to-end tests of the CLI on real images; Debian's real
# ImageJ running the plugin in macros (Xvfb -batch and truly headless); and the oracle comparisons
# (onnxruntime, scikit-image, SciPy, ImageJ's Analyze Particles); then a short fuzzing run of
# every parser that takes user bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean run needs about 9 GB (target/, fuzz/target/, .venv/): say so before a full disk
# turns into compiler crashes.
free_gb=$(df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }')
if [ "${free_gb:-0}" -lt 10 ]; then
  echo "warning: only ${free_gb} GB free on $(df -P . | awk 'NR == 2 { print $6 }'); building and" \
    "testing from a clean clone needs about 9 GB" >&2
fi
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
scripts/setup-test-env.sh
# One cargo profile (dev, optimised: see Cargo.toml) for the tests, the CLI and the native library
# that Gradle packs into the jar, so every crate is compiled once.
cargo test --workspace --no-run --quiet
status=0
echo "== Java: JUnit tests and the Fiji plugin jar (build/fiji/Fiji.app)"
# --no-daemon: a Gradle daemon started earlier keeps its own environment (Gradle 4.4 on JDK 17
# cannot update it), so its cargo would see other settings (CARGO_INCREMENTAL, RUSTFLAGS) and
# compile the workspace a second time.
gradle --no-daemon --console=plain -PcargoProfile=dev test fijiDist || status=$?
echo "== Rust: unit and end-to-end tests"
cargo test --workspace --no-fail-fast || status=$?
echo "== Fuzzing: every parser of user bytes, 60 s each (scripts/fuzz.sh; longer runs: README)"
FUZZ_QUICK=1 scripts/fuzz.sh "${BRIGHTSEG_FUZZ_SECONDS:-60}" || status=$?
exit "$status"
