#!/usr/bin/env bash
# Integer-only accuracy table of one model: for each recipe, float, fake-quant and integer-only
# top-1 with each nonlinear family (int32safe = MLSys'23, shift = I-ViT, poly = I-BERT), the
# integer-vs-fake-quant agreement and the truncation ratio of the softmax/GELU kernels.
# Prints a Markdown table; per-run JSON goes to $OUT (default build/int_table/<model>/).
#   scripts/int_table.sh MODEL.onnx [--data PATH] [--config CFG] [--calib-data PATH] [--recipes "w8a8 ..."]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
extra=(); calib_extra=(); recipes="w8a8 w6a6 w4a4-crl w4a4-crl-mixed"
while [[ $# -gt 0 ]]; do
  case $1 in
    --data|--config) extra+=("$1" "$2"); [[ $1 == --config ]] && calib_extra+=("$1" "$2"); shift 2 ;;
    --calib-data) calib_extra+=(--data "$2"); shift 2 ;;
    --recipes) recipes=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
qvit=${QVIT:-build/qvit}
out=${OUT:-build/int_table/$(basename "$model" .onnx)}
mkdir -p "$out"
field() { grep -o "\"$2\": [0-9.e+-]*" "$1" | head -1 | cut -d' ' -f2; }
# Truncations / elements summed over the softmax and GELU kernels, in percent.
trunc() {
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
ks = [k for k in j["truncation_per_kernel"] if "max" in k["op"] or "Gelu" in k["op"]]
e = sum(k["truncations"] for k in ks); n = sum(k["elements"] for k in ks)
print("%.3g" % (100.0 * e / n if n else 0.0))' "$1"
}
echo "| recipe | float | fake-quant | int32safe | shift (I-ViT) | poly (I-BERT) | agreement int32safe / shift / poly vs fake-quant | truncations % int32safe / shift / poly |"
echo "|---|---|---|---|---|---|---|---|"
for recipe in $recipes; do
  calib="$out/$recipe.calib.json"
  $qvit calibrate "$model" "${calib_extra[@]}" --recipe "configs/recipes/$recipe.json" -q -o "$calib" 2>/dev/null
  tops=(); agrees=(); truncs=()
  for fam in int32safe shift poly; do
    j="$out/$recipe-$fam.json"
    $qvit eval "$model" "${extra[@]}" --calib "$calib" --int --compare --nonlinear $fam -q --json "$j" 2>/dev/null
    tops+=("$(field "$j" top1)"); agrees+=("$(field "$j" agreement_fake_quant)"); truncs+=("$(trunc "$j")")
  done
  j="$out/$recipe-int32safe.json"
  echo "| $recipe | $(field "$j" float_top1) | $(field "$j" fake_quant_top1) | ${tops[0]} | ${tops[1]} | ${tops[2]} | ${agrees[0]} / ${agrees[1]} / ${agrees[2]} | ${truncs[0]} / ${truncs[1]} / ${truncs[2]} |"
done
