#!/usr/bin/env bash
# Evaluation speed on the bundled Fashion-MNIST models (issue 11: "qvit eval --int on the bundled
# models at least as fast as the float eval"): for each model, one after the other on the full
# 10k test split, w8a8 (int32safe), --rounds times in turn, each mode's median round reported:
#   float        qvit eval MODEL.onnx
#   integer      qvit eval MODEL.w8a8.int.onnx        (the exported integer-only model alone, exported
#                                                      at export's default batch 1, and at --batch 100)
#   fake-quant   qvit eval MODEL.onnx --calib C       (fake-quant model + the float run it is compared with)
#   eval --int   qvit eval MODEL.onnx --calib C --int (the integer model lowered in memory at --batch,
#                                                      one chunk per thread side by side)
#   --compare    qvit eval MODEL.onnx --calib C --int --compare (float, fake-quant and integer models,
#                                                      agreement)
# images/s as `qvit eval --json` reports it (images over the evaluation loop's wall time).
#
#   tools/bench/bundled_eval_speed.sh [--qvit build/qvit] [--threads 2] [--rounds 3] [--work DIR]
#                                     [--out FILE.json]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
QVIT="$ROOT/build/qvit"
THREADS=2
ROUNDS=3
WORK="${TMPDIR:-/tmp}/qvit_bundled_eval"
OUT=""
die() { echo "bundled_eval_speed: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --qvit) QVIT="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --work) WORK="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -x "$QVIT" ]] || die "$QVIT not built (cmake --build build --target qvit)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
mkdir -p "$WORK/raw"
rm -f "$WORK"/raw/*.json
OUT="${OUT:-$WORK/bundled_eval.json}"
export QVIT_THREADS="$THREADS"
MODELS=(deit_fmnist swin_fmnist)
for m in "${MODELS[@]}"; do
  echo "== $m: calibrate w8a8, export the integer model" >&2
  "$QVIT" calibrate "$ROOT/models/$m.onnx" --recipe w8a8 -o "$WORK/$m.w8a8.calib.json" -q
  "$QVIT" export "$ROOT/models/$m.onnx" --calib "$WORK/$m.w8a8.calib.json" -o "$WORK/$m.w8a8.int.onnx"
  "$QVIT" export "$ROOT/models/$m.onnx" --calib "$WORK/$m.w8a8.calib.json" --batch 100 -o "$WORK/$m.w8a8.b100.int.onnx"
done
for ((r = 1; r <= ROUNDS; ++r)); do
  for m in "${MODELS[@]}"; do
    echo "== round $r/$ROUNDS: $m" >&2
    C="$WORK/$m.w8a8.calib.json"
    "$QVIT" eval "$ROOT/models/$m.onnx" -q --json "$WORK/raw/$m.float.$r.json"
    "$QVIT" eval "$WORK/$m.w8a8.int.onnx" -q --json "$WORK/raw/$m.integer.$r.json"
    "$QVIT" eval "$WORK/$m.w8a8.b100.int.onnx" -q --json "$WORK/raw/$m.integer_b100.$r.json"
    "$QVIT" eval "$ROOT/models/$m.onnx" --calib "$C" -q --json "$WORK/raw/$m.fake_quant.$r.json"
    "$QVIT" eval "$ROOT/models/$m.onnx" --calib "$C" --int -q --json "$WORK/raw/$m.eval_int.$r.json"
    "$QVIT" eval "$ROOT/models/$m.onnx" --calib "$C" --int --compare -q --json "$WORK/raw/$m.eval_int_compare.$r.json"
  done
done
/usr/bin/python3 - "$WORK/raw" "$OUT" "$THREADS" "${MODELS[@]}" <<'EOF'
import json, os, statistics, sys
raw, out, threads, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
modes = ["float", "integer", "integer_b100", "fake_quant", "eval_int", "eval_int_compare"]
rows = []
for m in models:
    row = {"model": m}
    for mode in modes:
        runs = sorted(f for f in os.listdir(raw) if f.startswith(f"{m}.{mode}."))
        row[mode] = statistics.median(json.load(open(os.path.join(raw, f)))["images_per_second"] for f in runs)
    row["integer_over_float"] = row["integer"] / row["float"]
    row["integer_b100_over_float"] = row["integer_b100"] / row["float"]
    row["eval_int_over_float"] = row["eval_int"] / row["float"]
    rows.append(row)
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump({"threads": threads, "rounds": len(runs), "rows": rows}, f, indent=2)
os.replace(tmp, out)
print(f"images/s on the 10k test split, {threads} threads, median of {len(runs)} round(s)")
print("| model | float eval | `eval --int` | `eval --int` / float | integer model, batch 1 | integer, batch 100 | batch 100 / float | fake-quant eval | `eval --int --compare` |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['model']} | {r['float']:,.0f} | {r['eval_int']:,.0f} | {r['eval_int_over_float']:.2f}x | {r['integer']:,.0f} | "
          f"{r['integer_b100']:,.0f} | {r['integer_b100_over_float']:.2f}x | {r['fake_quant']:,.0f} | {r['eval_int_compare']:,.0f} |")
EOF
echo "wrote $OUT" >&2
