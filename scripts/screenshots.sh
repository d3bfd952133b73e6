#!/usr/bin/env bash
# Retakes the README's screenshots (docs/fiji-dialog.png, docs/fiji-result.png) from Debian's real
# ImageJ under Xvfb, with the plugin jar Gradle built. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=$(ls build/fiji/Fiji.app/plugins/brightseg_-*.jar 2>/dev/null | head -1)
[ -n "$jar" ] || { echo "build the plugin first: gradle fijiDist"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ij/plugins" "$work/classes"
cp "$jar" "$work/ij/plugins/"
javac -cp /usr/share/java/ij.jar -d "$work/classes" scripts/screenshots/TakeScreenshots.java
export BRIGHTSEG_MODEL_PATH="${BRIGHTSEG_MODEL_PATH:-$(cd ../shared/models && pwd)}"
timeout 600 xvfb-run -a -s "-screen 0 1280x1000x24" \
  java -Dplugins.dir="$work/ij" -cp "/usr/share/java/ij.jar:$work/classes" TakeScreenshots \
  "${1:-data/stardist/img2d.tif}" docs
ls -la docs/fiji-*.png
