#!/usr/bin/env bash
# Prepares the paired datasets of the generalist runs once: fetches ndev (scripts/fetch-data.sh)
# and, unless data/generalist/ already holds them, installs prepare.py's packages and writes the
# train and test parts and the sources files there (scripts/generalist/prepare.py).
#
# Usage: scripts/generalist/prepare-data.sh
#   SHARED_DATA=... where celldetective_adcc/ and brifiseg_bf/ are (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
shared="${SHARED_DATA:-../shared/data}"
data=data/generalist
scripts/fetch-data.sh
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
if [ ! -f "$data/sources-all.yaml" ]; then
  "$py" -m pip install --quiet -r scripts/generalist/requirements.txt
  "$py" scripts/generalist/prepare.py "$shared" "$data"
fi
