#!/usr/bin/env bash
# ctest fixture: writes the ImageNet-size PyTorch parity cases (DeiT-S at opsets 13/17, Swin-T,
# ~100 MB each, not committed) into $1 once, before the parity tests run. Without Debian's
# python3-torch it writes nothing and the tests skip with that reason.
set -euo pipefail
out=$1
src=$(cd "$(dirname "$0")/.." && pwd)
if [[ -f "$out/swin_t_op17/meta.json" && -f "$out/deit_s_op13/meta.json" && -f "$out/deit_s_op17/meta.json" ]]; then
  echo "parity cases already in $out"; exit 0
fi
if ! /usr/bin/python3 -c 'import torch, torchvision, onnx' >/dev/null 2>&1; then
  echo "python3-torch/torchvision/onnx not installed: big parity cases not generated"; exit 0
fi
/usr/bin/python3 "$src/tools/make_parity_cases.py" --out "$out" --case big
