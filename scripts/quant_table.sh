#!/usr/bin/env bash
# Accuracy table of the fake-quant simulation: for one model, float top-1 and, for every recipe in
# configs/recipes/ and both activation observers (percentile, minmax), top-1 and agreement with
# float. Prints a Markdown table; per-run JSON goes to $OUT (default build/quant_table/<model>/).
#   scripts/quant_table.sh MODEL.onnx [--data PATH] [--config CFG] [--calib-data PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
extra=(); calib_extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --data|--config) extra+=("$1" "$2"); [[ $1 == --config ]] && calib_extra+=("$1" "$2"); shift 2 ;;
    --calib-data) calib_extra+=(--data "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
qvit=${QVIT:-build/qvit}
out=${OUT:-build/quant_table/$(basename "$model" .onnx)}
mkdir -p "$out"
$qvit eval "$model" "${extra[@]}" -q --json "$out/float.json" 2>/dev/null
float=$(grep -o '"top1": [0-9.]*' "$out/float.json" | cut -d' ' -f2)
echo "| recipe | observer | top-1 (%) | Δ vs float (pt) | agreement (%) |"
echo "|---|---|---|---|---|"
echo "| float | – | $float | – | – |"
for recipe in w8a8 w6a6 w4a4 w4a4-reparam w4a4-crl; do
  for obs in percentile minmax; do
    calib="$out/$recipe-$obs.calib.json"
    $qvit calibrate "$model" "${calib_extra[@]}" --recipe "configs/recipes/$recipe.json" --observer "$obs" -q -o "$calib" 2>/dev/null
    $qvit eval "$model" "${extra[@]}" --calib "$calib" -q --json "$out/$recipe-$obs.json" 2>/dev/null
    top1=$(grep -o '"top1": [0-9.]*' "$out/$recipe-$obs.json" | cut -d' ' -f2)
    agree=$(grep -o '"agreement": [0-9.]*' "$out/$recipe-$obs.json" | cut -d' ' -f2)
    delta=$(awk -v a="$top1" -v b="$float" 'BEGIN { printf "%+.2f", a - b }')
    echo "| $recipe | $obs | $top1 | $delta | $agree |"
  done
done
