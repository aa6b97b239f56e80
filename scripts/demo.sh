#!/usr/bin/env bash
# The main job on the bundled models and images: build qvit; for each bundled model, inspect it,
# evaluate its float accuracy on the full Fashion-MNIST test split (Debian's dataset-fashion-mnist),
# calibrate it for w8a8 on the bundled calibration images, evaluate the fake-quant model, export
# the integer-only model (int32-safe kernels) and evaluate that exported model on the integer
# runtime: calibrate → export → eval.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target qvit
for model in models/deit_fmnist.onnx models/swin_fmnist.onnx; do
  echo "== $model"
  name=$(basename "$model" .onnx)
  build/qvit inspect "$model" > "build/$name.inspect.txt"   # full report, layer by layer
  head -8 "build/$name.inspect.txt"
  build/qvit eval "$model" --json "build/$name.float.json"
  build/qvit calibrate "$model" --recipe configs/recipes/w8a8.json -o "build/$name.w8a8.calib.json"
  build/qvit eval "$model" --calib "build/$name.w8a8.calib.json" --json "build/$name.w8a8.json"
  build/qvit export "$model" --calib "build/$name.w8a8.calib.json" --batch 100 -o "build/$name.w8a8.int.onnx"
  build/qvit eval "build/$name.w8a8.int.onnx" --json "build/$name.w8a8.int.json"
done
