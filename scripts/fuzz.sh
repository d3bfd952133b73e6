#!/usr/bin/env bash
# Fuzzes every parser that takes user bytes with cargo fuzz (libFuzzer):
#   read_image   TIFF / ImageJ hyperstack / OME-TIFF / PNG / JPEG decoding, with the memory budget
#   model_card   model descriptions (bioimageio.yaml 0.5, rdf 0.4, brightseg config)
#   onnx_model   ONNX weights loaded through tract beside a valid description, first tile run
#   cli_args     command lines: every subcommand and value parser
#   planner      Find Nuclei's plan for any image size, pixel size, budget, tile size and threads
# Seeds are cut from real files (scripts/fuzz_seeds.py). A crash, hang (> 30 s per input) or
# memory blow-up (> 2 GB) fails the run; libFuzzer leaves the input in fuzz/artifacts/TARGET/:
# copy it to tests/fuzz-regressions/TARGET/ (a test replays every file there) and fix the bug.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#   scripts/fuzz.sh 3600 read_image      an hour on the image decoders
# FUZZ_SANITIZER=address (default) builds with AddressSanitizer (16 minutes on 2 cores).
# FUZZ_QUICK=1 (what scripts/test.sh and so CI use) builds without a sanitizer at opt-level 1
# (7 minutes): the same panics, hangs and memory limits are caught, and only dependencies hold
# unsafe code.
# Writes fuzz/REPORT.md: executions, corpus size and crashes per target.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(read_image model_card onnx_model cli_args planner)
if [ "${FUZZ_QUICK:-0}" = 1 ]; then
  sanitizer="${FUZZ_SANITIZER:-none}"
  export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}"
  export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-false}"
else
  sanitizer="${FUZZ_SANITIZER:-address}"
fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
# cargo-fuzz passes nightly-only flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
python="${BRIGHTSEG_PYTHON:-.venv/bin/python}"
[ -x "$python" ] || scripts/setup-test-env.sh
data="${BRIGHTSEG_DATA:-data}"
[ -f "$data/stardist/img2d.tif" ] || scripts/fetch-data.sh
seeds=fuzz/seeds
rm -rf "$seeds"
"$python" scripts/fuzz_seeds.py "$seeds" "$data" ../shared/models/unet2d_nuclei_broad

echo "== building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build -O --sanitizer "$sanitizer" --fuzz-dir fuzz

report=fuzz/REPORT.md
{
  echo "# Fuzzing report"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), ${seconds} s per target, sanitizer ${sanitizer}, $(nproc) cores"
  echo "($(uname -m), $(rustc --version))."
  echo
  echo "| target | executions | exec/s | corpus | crashes, hangs, OOM |"
  echo "|---|---:|---:|---:|---:|"
} >"$report"
failed=0
# The targets' own scratch files (onnx_model writes a model folder) go here and are removed after.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  echo "== fuzzing $t for ${seconds} s"
  status=0
  # The ONNX seed is the real 1.8 MB network: let libFuzzer keep it whole.
  max_len=()
  [ "$t" != onnx_model ] || max_len=(-max_len=2000000)
  TMPDIR="$scratch" cargo fuzz run -O --sanitizer "$sanitizer" --fuzz-dir fuzz "$t" "$corpus" "$seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 "${max_len[@]}" >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    echo "!! $t failed (exit $status); the input is in fuzz/artifacts/$t/, the log in $log:"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 || true
  fi
  echo "| $t | ${execs:-?} | ${rate:-?} | $(find "$corpus" -type f | wc -l) | $crashes |" >>"$report"
done
cat "$report"
exit "$failed"
