#!/usr/bin/env bash
# Installs what brightseg needs to build and test on Debian/Ubuntu: a C toolchain, Python with
# venv, a JDK, ImageJ 1.x, Gradle, JUnit 4 and Xvfb (for the Fiji plugin and its tests), and Rust
# (rustup, only when no cargo is found). Safe to run again.
set -euo pipefail

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv python3-pip)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# ImageJ 1.x and a JDK: the tests check that ImageJ opens our TIFFs (the Fiji plugin builds on them).
[ -f /usr/share/java/ij.jar ] || need_apt+=(libij-java)
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
# The Java build (Debian's Gradle, offline against the system jars) and its tests.
command -v gradle >/dev/null || need_apt+=(gradle)
[ -f /usr/share/java/junit4.jar ] || need_apt+=(junit4)
command -v xvfb-run >/dev/null || need_apt+=(xvfb xauth)
command -v strip >/dev/null || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${need_apt[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "Rust is installed in ~/.cargo/bin: add it to PATH (source ~/.cargo/env)"
  else
    echo "Installing Rust with rustup (stable toolchain)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
  fi
fi
