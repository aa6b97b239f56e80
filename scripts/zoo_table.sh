#!/usr/bin/env bash
# The zoo's accuracy table (README "Architecture zoo"): for each family of models/zoo/ and each
# listed variant, on the full 10k Fashion-MNIST test split: qvit's float top-1 against PyTorch's
# (from <family>.metrics.json), then calibrate (w8a8, 32 bundled images) and the integer-only model
# (int32safe): its top-1, the gap to float, agreement with fake-quant and truncations.
#
#   scripts/zoo_table.sh [--variants op17_dyn,op13_b2] [--recipe w8a8] [--out DIR]
# Prints a Markdown table; writes DIR/zoo_table.json. Needs build/qvit.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=op17_dyn,op13_b2
recipe=w8a8
out=build/zoo_table
while [[ $# -gt 0 ]]; do
  case "$1" in
    --variants) variants=$2; shift 2 ;;
    --recipe) recipe=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "zoo_table: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
q=build/qvit
rows=()
for metrics in models/zoo/*.metrics.json; do
  family=$(basename "$metrics" .metrics.json)
  for v in ${variants//,/ }; do
    m=models/zoo/${family}_$v.onnx
    [[ -f $m ]] || { echo "zoo_table: $m missing" >&2; exit 1; }
    base=$out/${family}_$v
    $q eval "$m" --preset fmnist -q --json "$base.float.json" >/dev/null 2>&1
    $q calibrate "$m" --preset fmnist --recipe "$recipe" -q -o "$base.calib.json" >/dev/null 2>&1
    $q eval "$m" --preset fmnist -q --calib "$base.calib.json" --int --compare --json "$base.int.json" >/dev/null 2>&1
    rows+=("$family|$v|$metrics|$base")
  done
done
/usr/bin/python3 - "$out" "${rows[@]}" <<'EOF'
import json, sys
out, rows = sys.argv[1], sys.argv[2:]
table = []
print("| family | variant | PyTorch top-1 | qvit float | fake-quant | integer-only | Δ vs float | agreement vs fake-quant | truncations |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    family, v, metrics, base = r.split("|")
    pt = json.load(open(metrics))["top1"]
    fl = json.load(open(base + ".float.json"))
    it = json.load(open(base + ".int.json"))
    trunc = sum(k["truncations"] for k in it["truncation_per_kernel"])
    row = dict(family=family, variant=v, pytorch_top1=pt, float_top1=round(fl["top1"], 2), fake_quant_top1=round(it["fake_quant_top1"], 2),
               integer_top1=round(it["top1"], 2), delta=round(it["top1"] - fl["top1"], 2),
               agreement_fake_quant=round(it["agreement_fake_quant"], 2), truncations=trunc)
    table.append(row)
    print(f"| {family} | {v} | {pt:.2f} | {row['float_top1']:.2f} | {row['fake_quant_top1']:.2f} | {row['integer_top1']:.2f} | "
          f"{row['delta']:+.2f} | {row['agreement_fake_quant']:.2f} | {trunc} |")
json.dump(table, open(out + "/zoo_table.json", "w"), indent=1)
EOF
