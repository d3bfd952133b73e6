#!/usr/bin/env bash
# Re-runs the cheap measured claims of README.md, docs/ and the model cards (scripts/check-docs.py
# lists them with their commands) and prints a table of documented against measured values.
# Not part of CI (about a minute on 2 cores, beside the tests' own quality floors); run it after
# changing a model, the trainer or the post-processing. Arguments filter claims by name.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh >/dev/null
CARGO_INCREMENTAL=0 cargo build --quiet -p brightseg-cli
exec python3 scripts/check-docs.py "$@"
