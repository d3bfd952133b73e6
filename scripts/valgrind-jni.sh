#!/usr/bin/env bash
# Runs the JNI bridge under valgrind's memcheck inside a real JVM: one real image, then every
# kind of garbage the bridge must refuse (java/src/test/java/io/github/brightseg/JniProbe.java).
# The JVM itself makes valgrind report many errors of its own (JIT code, GC); only errors with a
# frame in libbrightseg_jni.so count. Not part of CI (about 10-20 minutes on 2 cores).
# Usage: scripts/valgrind-jni.sh        (after scripts/test.sh has built everything)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y valgrind; }
lib=target/debug/libbrightseg_jni.so
classes=java/build/classes/java
[ -f "$lib" ] && [ -d "$classes/test" ] || gradle --console=plain -PcargoProfile=dev :java:testClasses
model=../shared/models/unet2d_nuclei_broad
image="${BRIGHTSEG_DATA:-data}/stardist/img2d.tif"
log=target/valgrind-jni.log
valgrind --tool=memcheck --error-limit=no --num-callers=40 --smc-check=all-non-file \
  --log-file="$log" \
  java -Xint -XX:-UseCompressedOops -Dbrightseg.native.library="$PWD/$lib" \
  -cp "$classes/main:$classes/test" io.github.brightseg.JniProbe "$model" "$image"
echo "valgrind log: $log"
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
ours = [b for b in blocks if "libbrightseg_jni" in b and ("Invalid" in b or "uninitialised" in b
        or "Conditional jump" in b or "Mismatched" in b or "overlap" in b)]
total = len(re.findall(r"^==\d+== (Invalid|Conditional|Use of uninit|Mismatched|Syscall param)",
                       text, re.M))
print(f"memcheck errors in the whole JVM: {total}; with a frame in libbrightseg_jni.so: {len(ours)}")
for b in ours[:5]:
    print(b[:3000])
sys.exit(1 if ours else 0)
PY
