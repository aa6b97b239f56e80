#!/usr/bin/env bash
# Installs everything qvit needs to build, test and produce its bundled models, from Debian's
# packages only (no other network source exists). Safe to run again; needs root or sudo.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

BUILD_DEPS=(
  build-essential cmake ninja-build pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libopencv-dev libjpeg-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libonnx-testdata
)
# The one list of what each README command needs:
#   scripts/demo.sh  BUILD_DEPS + DATA_DEPS (it evaluates on the Fashion-MNIST test split)
#   scripts/test.sh  BUILD_DEPS + DATA_DEPS + TOOL_DEPS (QVIT_WITH_TOOLS=1)
# Data: Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist).
DATA_DEPS=(dataset-fashion-mnist)
# Python side for tools/ (golden files, training, parity); tests that need it skip without it.
TOOL_DEPS=(python3-torch python3-torchvision python3-onnx python3-numpy)
# libFuzzer for scripts/fuzz.sh (QVIT_WITH_FUZZ=1).
FUZZ_DEPS=(clang libclang-rt-14-dev)

missing=()
for p in "${BUILD_DEPS[@]}" "${DATA_DEPS[@]}" ${QVIT_WITH_TOOLS:+"${TOOL_DEPS[@]}"} ${QVIT_WITH_FUZZ:+"${FUZZ_DEPS[@]}"}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
