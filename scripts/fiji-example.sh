#!/usr/bin/env bash
# The Fiji plugin on the example image, without a screen: builds the plugin jar
# (build/fiji/Fiji.app), then Debian's ImageJ runs Find Nuclei DNN from a macro in truly headless
# mode and saves the tables and the label image to results/fiji-example/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/fetch-data.sh
gradle --no-daemon --console=plain --quiet -PcargoProfile="${CARGO_PROFILE:-dev}" fijiDist
model="${BRIGHTSEG_MODEL:-$(cd ../shared/models/unet2d_nuclei_broad 2>/dev/null && pwd)}"
[ -n "$model" ] || { echo "set BRIGHTSEG_MODEL to a model folder"; exit 2; }
out="$(pwd)/results/fiji-example"
mkdir -p "$out"
cat > "$out/find-nuclei.ijm" <<MACRO
helper = "io.github.brightseg.fiji.Brightseg";
err = call(helper + ".findNuclei", "$(pwd)/data/stardist/img2d.tif", "model=[$model] threshold=0.5 minimum=10 label");
if (err != "") print("Find Nuclei DNN failed: " + err);
call(helper + ".saveTable", "Nuclei Summary", "$out/summary.csv");
call(helper + ".saveTable", "Nuclei", "$out/objects.csv");
call(helper + ".saveImage", "Nuclei Labels", "$out/labels.tif");
call(helper + ".exitOnError");
MACRO
timeout 600 java -Djava.awt.headless=true -Dplugins.dir="$(pwd)/build/fiji/Fiji.app" \
  -jar /usr/share/java/ij.jar -batch "$out/find-nuclei.ijm"
echo
column -s, -t < "$out/summary.csv" | cut -c1-200
echo "Outputs: $(ls "$out" | tr '\n' ' ')"
