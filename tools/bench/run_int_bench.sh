#!/usr/bin/env bash
# Integer runtime benchmark (issue 11) on the DeiT-S-size ViT (torchvision VisionTransformer, 224,
# patch 16, 12 layers, dim 384, 22M parameters, random weights; tools/make_parity_cases.py), w8a8:
# five engines, strictly one after the other in one run, same threads, batch 1 and 8:
#   qvit integer   `qvit bench` on the exported integer-only model (.int.onnx at batch 1, export's
#                  default; at batch 8 fed 8 images per call, run side by side on the threads; the
#                  export at batch 8 is timed too)
#   qvit float     `qvit bench` on the float ONNX
#   PyTorch FP32   tools/bench/bench_torch.py
#   ORT FP32       tools/bench/bench_ort.mjs on the float ONNX (onnxruntime-node, CPU EP)
#   ORT QDQ        tools/bench/bench_ort.mjs on qvit's QDQ export (int8 MatMuls, float nonlinears)
# then the integer kernels against their float counterparts at the MLSys'23 shapes
# (`qvit bench --kernels-only`) and the int8 GEMM's GOP/s next to the machine's measured VNNI peak
# (qvit_int8_gemm_bench). Peak RSS of the integer and the float model (`qvit bench`'s VmHWM).
#
#   tools/bench/run_int_bench.sh [--qvit build/qvit] [--gemm-bench build/bench/qvit_int8_gemm_bench]
#                                [--threads 2] [--seconds 5] [--rounds 3] [--work DIR] [--out FILE.json]
#
# The five engines run --rounds times in turn (qvit int, qvit float, PyTorch, ORT FP32, ORT QDQ,
# then again), and each engine's median round is reported: on a shared 2-core machine one round
# of one engine can be 30% off.
#
# Needs: /usr/bin/python3 with torch/torchvision/onnx (Debian), node + onnxruntime-node (installed
# here into tools/bench/node_modules by npm ci if missing), the ImageNet sample photos in
# ../shared/data/imagenet-samples for the calibration.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
QVIT="$ROOT/build/qvit"
GEMM_BENCH="$ROOT/build/bench/qvit_int8_gemm_bench"
THREADS=2
SECONDS_PER=5
ROUNDS=3
WORK="${TMPDIR:-/tmp}/qvit_int_bench"
OUT=""
die() { echo "run_int_bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --qvit) QVIT="${2:?}"; shift 2 ;;
    --gemm-bench) GEMM_BENCH="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --seconds) SECONDS_PER="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --work) WORK="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -x "$QVIT" ]] || die "$QVIT not built (cmake --build build --target qvit)"
[[ -x "$PY" ]] || die "$PY not found (apt-get install python3-torch python3-torchvision python3-onnx)"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
DATA="$ROOT/../shared/data/imagenet-samples/labels.txt"
[[ -f "$DATA" ]] || die "$DATA not found (the ImageNet sample photos)"
mkdir -p "$WORK"
OUT="${OUT:-$WORK/int_bench.json}"
export QVIT_THREADS="$THREADS"

MODEL="$WORK/deit_s_op17/model.onnx"
if [[ ! -f "$MODEL" ]]; then
  echo "== exporting the DeiT-S-size model" >&2
  "$PY" "$ROOT/tools/make_parity_cases.py" --out "$WORK" --case deit_s_op17 >/dev/null || die "model export failed"
fi
if [[ ! -d "$HERE/node_modules/onnxruntime-node" ]]; then
  echo "== installing onnxruntime-node in $HERE/node_modules" >&2
  (cd "$HERE" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2) || die "npm ci failed in $HERE"
fi
CALIB="$WORK/deit_s.w8a8.calib.json"
echo "== calibrate w8a8 on 32 ImageNet photos, export integer (batch 1, 8) and QDQ" >&2
"$QVIT" calibrate "$MODEL" --config "$ROOT/configs/imagenet.json" --data "$DATA" --recipe w8a8 -o "$CALIB" -q
for b in 1 8; do "$QVIT" export "$MODEL" --calib "$CALIB" --batch "$b" -o "$WORK/deit_s.b$b.int.onnx"; done
"$QVIT" export "$MODEL" --calib "$CALIB" --format qdq -o "$WORK/deit_s.qdq.onnx"

RAW="$WORK/raw"
mkdir -p "$RAW"
rm -f "$RAW"/*.json
for ((r = 1; r <= ROUNDS; ++r)); do
  for b in 1 8; do
    echo "== round $r/$ROUNDS: qvit integer, batch $b" >&2
    # The batch-1 export (export's default) at both batches: 8 images per call run side by side,
    # one per thread; the batch-8 export (every op shared between the threads) is recorded too.
    "$QVIT" bench "$WORK/deit_s.b1.int.onnx" --batch "$b" --seconds "$SECONDS_PER" --json "$RAW/qvit_int.b$b.$r.json"
    [[ $b == 1 ]] ||
      "$QVIT" bench "$WORK/deit_s.b$b.int.onnx" --batch "$b" --seconds "$SECONDS_PER" --json "$RAW/qvit_int_export_b$b.b$b.$r.json"
    echo "== round $r/$ROUNDS: qvit float, batch $b" >&2
    "$QVIT" bench "$MODEL" --batch "$b" --seconds "$SECONDS_PER" --json "$RAW/qvit_float.b$b.$r.json"
  done
  echo "== round $r/$ROUNDS: PyTorch FP32" >&2
  OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" "$PY" "$HERE/bench_torch.py" --threads "$THREADS" --batches 1,8 \
    --min-time "$SECONDS_PER" >"$RAW/torch.$r.json" || die "bench_torch.py failed"
  echo "== round $r/$ROUNDS: ONNX Runtime FP32" >&2
  node "$HERE/bench_ort.mjs" --model="$MODEL" --threads="$THREADS" --batches=1,8 --min-time="$SECONDS_PER" \
    >"$RAW/ort_fp32.$r.json" || die "bench_ort.mjs failed (FP32)"
  echo "== round $r/$ROUNDS: ONNX Runtime on qvit's QDQ export" >&2
  node "$HERE/bench_ort.mjs" --model="$WORK/deit_s.qdq.onnx" --threads="$THREADS" --batches=1,8 \
    --min-time="$SECONDS_PER" >"$RAW/ort_qdq.$r.json" || die "bench_ort.mjs failed (QDQ)"
done
echo "== integer kernels vs float kernels (MLSys'23 shapes)" >&2
"$QVIT" bench --kernels-only --seconds 1 --json "$RAW/kernels.json"
if [[ -x "$GEMM_BENCH" ]]; then
  echo "== int8 GEMM vs the VNNI peak" >&2
  # (it prints the measured peak as text before the JSON: keep the JSON only)
  "$GEMM_BENCH" --benchmark_format=json --benchmark_filter='vnni_peak|gemm/(avx512|avx2vnni|avx2)/.*/m:1576/bits:8/threads:2' \
    2>/dev/null | sed -n '/^{/,$p' >"$RAW/gemm.json" ||
    echo "run_int_bench: $GEMM_BENCH failed; no GEMM figures" >&2
fi

"$PY" - "$RAW" "$OUT" "$THREADS" "$ROUNDS" <<'PYEOF'
import json, os, statistics, subprocess, sys, time
raw, out, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
load = lambda f: json.load(open(os.path.join(raw, f)))
ips, rss, all_rounds = {}, {}, {}
for b in (1, 8):
    for kind in ("qvit_int", "qvit_float"):
        docs = [load(f"{kind}.b{b}.{r}.json") for r in range(1, rounds + 1)]
        all_rounds.setdefault(kind, {})[b] = [d["images_per_second"] for d in docs]
        ips.setdefault(kind, {})[b] = statistics.median(all_rounds[kind][b])
        rss.setdefault(kind, {})[b] = max(d["peak_rss_mb"] for d in docs)
docs = [load(f"qvit_int_export_b8.b8.{r}.json") for r in range(1, rounds + 1)]
all_rounds["qvit_int_export_b8"] = {8: [d["images_per_second"] for d in docs]}
ips["qvit_int_export_b8"] = {8: statistics.median(all_rounds["qvit_int_export_b8"][8])}
for kind, f in (("pytorch", "torch"), ("ort_fp32", "ort_fp32"), ("ort_qdq", "ort_qdq")):
    docs = [load(f"{f}.{r}.json") for r in range(1, rounds + 1)]
    for b in (1, 8):
        all_rounds.setdefault(kind, {})[b] = [d[f"batch{b}_ips"] for d in docs]
        ips.setdefault(kind, {})[b] = statistics.median(all_rounds[kind][b])
kernels = load("kernels.json")
gemm = None
if os.path.exists(os.path.join(raw, "gemm.json")):
    try:
        gemm = load("gemm.json")
    except ValueError:
        gemm = None
ratio = lambda a, b: {str(x): ips[a][x] / ips[b][x] for x in (1, 8)}
cpu = "unknown"
for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
    if line.startswith("Model name:"):
        cpu = line.split(":", 1)[1].strip()
result = {
    "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "threads": threads, "cpu": cpu,
    "rounds": rounds,
    "images_per_second": {k: {str(b): v for b, v in m.items()} for k, m in ips.items()},
    "images_per_second_all_rounds": {k: {str(b): v for b, v in m.items()} for k, m in all_rounds.items()},
    "ratio_int_over_ort_fp32": ratio("qvit_int", "ort_fp32"),
    "ratio_int_over_ort_qdq": ratio("qvit_int", "ort_qdq"),
    "ratio_int_over_qvit_float": ratio("qvit_int", "qvit_float"),
    "ratio_int_over_pytorch": ratio("qvit_int", "pytorch"),
    "peak_rss_mb": {k: {str(b): v for b, v in m.items()} for k, m in rss.items()},
    "rss_int_over_float": {str(b): rss["qvit_int"][b] / rss["qvit_float"][b] for b in (1, 8)},
    "kernels": kernels,
    "gemm_benchmark": gemm,
}
tmp = out + ".tmp"
json.dump(result, open(tmp, "w"), indent=2)
os.replace(tmp, out)
names = [("qvit_int", "qvit integer"), ("qvit_float", "qvit float"), ("pytorch", "PyTorch FP32"),
         ("ort_fp32", "ORT FP32"), ("ort_qdq", "ORT QDQ (qvit export)")]
print(f"DeiT-S-size w8a8, {threads} threads, {cpu}: images/s, median of {rounds} round(s)")
print("| batch | " + " | ".join(n for _, n in names) + " | int / ORT FP32 | int / ORT QDQ | peak RSS int / float (MB) |")
print("|---" * (len(names) + 4) + "|")
for b in (1, 8):
    print(f"| {b} | " + " | ".join(f"{ips[k][b]:.2f}" for k, _ in names) +
          f" | {ips['qvit_int'][b] / ips['ort_fp32'][b]:.2f}x | {ips['qvit_int'][b] / ips['ort_qdq'][b]:.2f}x"
          f" | {rss['qvit_int'][b]:.0f} / {rss['qvit_float'][b]:.0f} |")
print(f"\nqvit integer at batch 8 is the batch-1 export fed 8 images (side by side); the batch-8 export: "
      f"{ips['qvit_int_export_b8'][8]:.2f} images/s")
print("\nInteger kernels vs qvit's float kernels (ms per call):")
print("| kernel | shape | integer ms | float ms | float / integer |")
print("|---|---|---|---|---|")
for k in kernels["kernels"]:
    print(f"| {k['kernel']} | {k['shape']} | {k['integer_ms']:.3f} | {k['float_ms']:.3f} | {k['float_ms'] / k['integer_ms']:.2f}x |")
if gemm:
    print("\nint8 GEMM, batch 8 (m = 1576), 2 threads: GOP/s and % of the measured VNNI zmm peak:")
    print("| benchmark | GOP/s | % of peak |")
    print("|---|---|---|")
    # The bench's pct_peak divides by a peak it measured once before the GEMMs; on a shared VM the
    # vnni_peak rows (measured again, later) can be higher. The higher of the two is the peak.
    rows = [b for b in gemm["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    peak_row = max((b.get("GOPs", 0) for b in rows if b["name"].startswith("vnni_peak/threads:2")), default=0)
    for b in rows:
        pct = b.get("pct_peak")
        if pct:
            peak = max(b.get("GOPs", 0) * 100 / pct, peak_row if "threads:2" in b["name"] else 0)
            pct = b.get("GOPs", 0) * 100 / peak
        print(f"| {b['name'].replace('/process_time', '').replace('/real_time', '')} | {b.get('GOPs', 0):.0f} | "
              + (f"{pct:.0f}%" if pct is not None else "-") + " |")
print(f"JSON: {out}")
PYEOF
