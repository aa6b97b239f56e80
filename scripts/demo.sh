#!/usr/bin/env bash
# The main job on the bundled models and images: build qvit, inspect each bundled model and
# evaluate its float accuracy on the full Fashion-MNIST test split (Debian's dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target qvit
for model in models/deit_fmnist.onnx models/swin_fmnist.onnx; do
  echo "== $model"
  build/qvit inspect "$model" | head -7
  build/qvit eval "$model" --json "build/$(basename "$model" .onnx).float.json"
done
