#!/usr/bin/env bash
# Time and peak memory of every qvit command on a DeiT-S-size model at the default settings:
# torchvision VisionTransformer (224, patch 16, 12 layers, dim 384, 22M parameters, random weights),
# opset 17, dynamic batch, written by tools/make_parity_cases.py. Each command runs once under
# /usr/bin/time -v; the table gives wall time and peak RSS next to the bounds of issue 8.
#
#   tools/bench/memory_bounds.sh [--qvit build/qvit] [--work DIR] [--json FILE]
#
# Images: the 99 ImageNet photos in ../shared/data/imagenet-samples (32 of them for calibration
# and for the evaluations), preprocessed by configs/imagenet.json.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
QVIT="$ROOT/build/qvit"
WORK="${TMPDIR:-/tmp}/qvit_memory_bounds"
JSON=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --qvit) QVIT="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --json) JSON="$2"; shift 2 ;;
    *) echo "memory_bounds: unknown option $1" >&2; exit 2 ;;
  esac
done
DATA="$ROOT/../shared/data/imagenet-samples/labels.txt"
[[ -x "$QVIT" ]] || { echo "memory_bounds: $QVIT not built (cmake --build build --target qvit)" >&2; exit 1; }
[[ -f "$DATA" ]] || { echo "memory_bounds: $DATA not found (the ImageNet sample photos)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "memory_bounds: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
mkdir -p "$WORK"
MODEL="$WORK/deit_s_op17/model.onnx"
if [[ ! -f "$MODEL" ]]; then
  /usr/bin/python3 "$ROOT/tools/make_parity_cases.py" --out "$WORK" --case deit_s_op17 >/dev/null
fi
CFG=(--config "$ROOT/configs/imagenet.json")

rows=()
measure() {  # name bound_s bound_mb -- command...
  local name=$1 bound_s=$2 bound_mb=$3
  shift 4
  local log="$WORK/$name.time.txt"
  if ! /usr/bin/time -v "$@" >"$WORK/$name.out.txt" 2>"$log"; then
    echo "memory_bounds: '$name' failed:" >&2; grep -E "^(error|warning)" "$log" >&2 || tail -3 "$log" >&2; exit 1
  fi
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  rows+=("$name|$wall|$rss|$bound_s|$bound_mb")
}

measure "inspect" 2 500 -- "$QVIT" inspect "$MODEL"
measure "eval_batch1_limit32" - 500 -- "$QVIT" eval "$MODEL" "${CFG[@]}" --data "$DATA" --limit 32 --batch 1 -q
measure "eval_batch32_limit32" - 1536 -- "$QVIT" eval "$MODEL" "${CFG[@]}" --data "$DATA" --limit 32 -q
measure "calibrate_w8a8_32" - 2560 -- "$QVIT" calibrate "$MODEL" "${CFG[@]}" --data "$DATA" --recipe w8a8 \
  -o "$WORK/deit_s.w8a8.calib.json" -q
measure "eval_int_batch32_limit32" - 1536 -- "$QVIT" eval "$MODEL" "${CFG[@]}" --data "$DATA" --limit 32 \
  --calib "$WORK/deit_s.w8a8.calib.json" --int -q
measure "eval_int_compare_batch32_limit32" - 1536 -- "$QVIT" eval "$MODEL" "${CFG[@]}" --data "$DATA" --limit 32 \
  --calib "$WORK/deit_s.w8a8.calib.json" --int --compare -q
# Issue 10: LRP importance (forward, gradient and relevance per image, 2 threads) on the 32
# calibration images, then the mixed-precision calibration; the bound (60 s, 2.5 GB) is for the
# LRP scores, which the whole command here includes.
measure "calibrate_w4a4-lrp_32" 60 2560 -- "$QVIT" calibrate "$MODEL" "${CFG[@]}" --data "$DATA" --recipe w4a4-lrp \
  -o "$WORK/deit_s.w4a4-lrp.calib.json"
lrp_s=$(grep -o 'importance of [0-9]* layers on [0-9]* images in [0-9.]* s' "$WORK/calibrate_w4a4-lrp_32.time.txt" | awk '{print $(NF-1)}')
echo "LRP importance alone: ${lrp_s:-?} s" >&2

printf "%-26s %10s %10s %12s %12s %s\n" command wall_s peak_MB bound_s bound_MB ok
json="["
fail=0
for r in "${rows[@]}"; do
  IFS='|' read -r name wall rss bs bm <<<"$r"
  ok=yes
  if [[ "$bs" != "-" ]] && awk -v a="$wall" -v b="$bs" 'BEGIN{exit !(a>b)}'; then ok=no; fi
  if awk -v a="$rss" -v b="$bm" 'BEGIN{exit !(a>b)}'; then ok=no; fi
  [[ $ok == yes ]] || fail=1
  printf "%-26s %10s %10s %12s %12s %s\n" "$name" "$wall" "$rss" "$bs" "$bm" "$ok"
  json+="{\"command\":\"$name\",\"wall_s\":$wall,\"peak_rss_mb\":$rss,\"bound_s\":\"$bs\",\"bound_mb\":$bm,\"ok\":\"$ok\"},"
done
json="${json%,}]"
[[ -z "$JSON" ]] || echo "$json" >"$JSON"
exit $fail
