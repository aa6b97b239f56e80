#!/usr/bin/env bash
# Float forward benchmark of the DeiT-S-shape ViT: qvit vs PyTorch FP32 vs ONNX Runtime FP32, on
# the same machine, in the same run, on the same ONNX file, same batch sizes and thread count.
#
#   tools/bench/run_float_bench.sh [--threads N] [--batches 1,8] [--min-time S] [--warmup W]
#                                  [--rounds R] [--openblas-coretype NAME]
#                                  [--out FILE.json] [--no-build]
#
# Steps: (1) build qvit_float_bench (Release, in $QVIT_BUILD_DIR, default build-bench/) unless
# --no-build or $QVIT_FLOAT_BENCH names a binary; (2) write the DeiT-S ONNX with
# tools/make_parity_cases.py into $QVIT_BENCH_DIR (default: the build dir) if it is missing;
# (3) install onnxruntime-node locally in tools/bench (npm ci, no GPU bits) if it is missing;
# (4) run qvit (Google Benchmark JSON), PyTorch and ONNX Runtime one after the other — never
# concurrently — R rounds (the median round per engine is reported, which evens out a machine whose
# load changes during the run); (5) print a table of images/s and the ratios qvit/PyTorch and
# qvit/ORT, and write it as JSON (default $QVIT_BENCH_DIR/float_bench.json).
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE unless OMP_WAIT_POLICY is already set: Debian's torch
# pairs OpenMP with OpenBLAS's own pthread pool, and OpenMP's default spin-wait then fights the BLAS
# threads for the 2 cores (measured 7x slower at batch 1; see docs/benchmarks.md).
# --openblas-coretype exports OPENBLAS_CORETYPE to every engine (qvit and this PyTorch use OpenBLAS;
# ORT has its own GEMM).
# Nothing is installed globally. See docs/benchmarks.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3   # Debian's interpreter: torch, torchvision and onnx exist only there

THREADS=2
BATCHES=1,8
MIN_TIME=3
WARMUP=2
ROUNDS=1
CORETYPE=""
BUILD=1
BUILD_DIR="${QVIT_BUILD_DIR:-$ROOT/build-bench}"
BENCH_DIR="${QVIT_BENCH_DIR:-$BUILD_DIR}"
OUT=""

die() { echo "run_float_bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS="${2:?}"; shift 2 ;;
    --batches) BATCHES="${2:?}"; shift 2 ;;
    --min-time) MIN_TIME="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --warmup) WARMUP="${2:?}"; shift 2 ;;
    --openblas-coretype) CORETYPE="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ "$BATCHES" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--batches must look like 1,8"
[[ "$MIN_TIME" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--min-time must be seconds"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup must be a count"
if [[ -n "$CORETYPE" ]]; then export OPENBLAS_CORETYPE="$CORETYPE"; fi
mkdir -p "$BENCH_DIR"
OUT="${OUT:-$BENCH_DIR/float_bench.json}"
RAW="$BENCH_DIR/float_bench_raw"
mkdir -p "$RAW"
rm -f "$RAW"/*.json "$RAW"/*.load

for tool in node npm cmake; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x "$PY" ]] || die "$PY not found (apt-get install python3-torch python3-torchvision python3-onnx)"

# (1) qvit's benchmark binary.
BIN="${QVIT_FLOAT_BENCH:-$BUILD_DIR/bench/qvit_float_bench}"
targets=(qvit_float_bench)
if [[ -z "${QVIT_FLOAT_BENCH:-}" && "$BUILD" == 1 ]]; then
  echo "== building qvit_float_bench in $BUILD_DIR" >&2
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DQVIT_BUILD_TESTS=OFF \
      -DQVIT_BUILD_BENCH=ON >"$BENCH_DIR/cmake.log" 2>&1 || die "cmake configure failed (log: $BENCH_DIR/cmake.log)"
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}" >"$BENCH_DIR/build.log" 2>&1 ||
    die "build failed (log: $BENCH_DIR/build.log)"
fi
[[ -x "$BIN" ]] || die "$BIN not found (build it, or drop --no-build, or set QVIT_FLOAT_BENCH)"

# (2) The DeiT-S-shape model (random weights; torchvision VisionTransformer, opset 17).
MODEL="$BENCH_DIR/models/deit_s_op17/model.onnx"
if [[ ! -f "$MODEL" ]]; then
  echo "== exporting the DeiT-S-shape model to $MODEL" >&2
  "$PY" "$ROOT/tools/make_parity_cases.py" --out "$BENCH_DIR/models" --case deit_s_op17 >&2 ||
    die "model export failed"
fi

# (3) onnxruntime-node, locally (CPU binaries ship in the npm package; skip the CUDA download).
if [[ ! -d "$HERE/node_modules/onnxruntime-node" ]]; then
  echo "== installing onnxruntime-node in $HERE/node_modules" >&2
  (cd "$HERE" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2) || die "npm ci failed in $HERE"
fi

loadavg() { cut -d' ' -f1 /proc/loadavg; }
TORCH_OMP_WAIT="${OMP_WAIT_POLICY:-PASSIVE}"

# (4) The three engines, strictly one after the other.
for ((r = 1; r <= ROUNDS; ++r)); do
  echo "== round $r/$ROUNDS: qvit (load $(loadavg))" >&2
  loadavg >"$RAW/qvit.$r.load"
  "$BIN" --model="$MODEL" --threads="$THREADS" --batches="$BATCHES" --min_time="$MIN_TIME" --warmup="$WARMUP" \
    --benchmark_filter='^BM_float_forward' --benchmark_format=json >"$RAW/qvit.$r.json" ||
    die "qvit_float_bench failed"
  echo "== round $r/$ROUNDS: PyTorch (load $(loadavg))" >&2
  loadavg >"$RAW/torch.$r.load"
  OMP_WAIT_POLICY="$TORCH_OMP_WAIT" "$PY" "$HERE/bench_torch.py" --threads "$THREADS" --batches "$BATCHES" --min-time "$MIN_TIME" --warmup "$WARMUP" \
    >"$RAW/torch.$r.json" || die "bench_torch.py failed"
  echo "== round $r/$ROUNDS: ONNX Runtime (load $(loadavg))" >&2
  loadavg >"$RAW/ort.$r.load"
  node "$HERE/bench_ort.mjs" --model="$MODEL" --threads="$THREADS" --batches="$BATCHES" --min-time="$MIN_TIME" \
    --warmup="$WARMUP" >"$RAW/ort.$r.json" || die "bench_ort.mjs failed"
done

# (5) Table and JSON.
"$PY" - "$RAW" "$ROUNDS" "$BATCHES" "$THREADS" "$MODEL" "$OUT" "$ROOT" "$CORETYPE" "$TORCH_OMP_WAIT" <<'PYEOF'
import json, os, platform, statistics, subprocess, sys, time

raw, rounds, batches, threads, model, out, root, coretype, torch_omp_wait = sys.argv[1:]
rounds, threads = int(rounds), int(threads)
batches = [int(b) for b in batches.split(",")]
engines = [("qvit", "qvit"), ("pytorch", "torch"), ("onnxruntime", "ort")]

def load(kind, r):
    with open(os.path.join(raw, f"{kind}.{r}.json")) as f:
        return json.load(f)

def loadavg(kind, r):
    with open(os.path.join(raw, f"{kind}.{r}.load")) as f:
        return float(f.read())

def gbench(doc, prefix):
    """images/s and CPU s/image per batch from Google Benchmark JSON (time_unit ms)."""
    ips, cpu = {}, {}
    for b in doc["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration" or not b["name"].startswith(prefix):
            continue
        batch = int(b["batch"]) if "batch" in b else int(b["name"].split("batch:")[1].split("/")[0])
        ips[batch] = b["items_per_second"]
        cpu[batch] = b["cpu_time"] / {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}[b["time_unit"]] / batch
    return ips, cpu

runs = {e: [] for e, _ in engines}
cpus = {e: [] for e, _ in engines}
ctx = {}
for r in range(1, rounds + 1):
    for e, kind in engines:
        doc = load(kind, r)
        if kind == "qvit":
            ips, cpu = gbench(doc, "BM_float_forward/" if kind == "qvit" else "BM_forward/attention/")
            if kind == "qvit":
                ctx = doc["context"]
        else:
            ips = {b: doc[f"batch{b}_ips"] for b in batches}
            cpu = {b: doc.get(f"batch{b}_cpu_s_per_image") for b in batches}
            ctx[kind + "_version"] = doc.get("version")
        runs[e].append(ips)
        cpus[e].append(cpu)

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

ips = {e: {b: med([run[b] for run in runs[e]]) for b in batches} for e, _ in engines}
cpu_per_image = {e: {b: med([c.get(b) for c in cpus[e]]) for b in batches} for e, _ in engines}
cpu = "unknown"
try:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
except OSError:
    pass
try:
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = ""

ratio = lambda a, b: {str(x): ips[a][x] / ips[b][x] for x in batches}
result = {
    "model": model, "threads": threads, "rounds": rounds, "batches": batches,
    "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "commit": commit,
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()},
    "openblas_coretype_env": coretype or None,
    "pytorch_omp_wait_policy": torch_omp_wait,
    "load_average_1min": {e: [loadavg(k, r) for r in range(1, rounds + 1)] for e, k in engines},
    "versions": {"torch": ctx.get("torch_version"), "onnxruntime_node": ctx.get("ort_version"),
                 "openblas": ctx.get("openblas_config"), "openblas_core": ctx.get("openblas_core")},
    "images_per_s": {e: {str(b): v for b, v in m.items()} for e, m in ips.items()},
    "cpu_s_per_image": {e: {str(b): v for b, v in m.items()} for e, m in cpu_per_image.items()},
    "images_per_s_all_rounds": {e: [{str(b): v for b, v in run.items()} for run in rs] for e, rs in runs.items()},
    "ratio_qvit_over_pytorch": ratio("qvit", "pytorch"),
    "ratio_qvit_over_onnxruntime": ratio("qvit", "onnxruntime"),
    "target_qvit_over_onnxruntime": 0.8,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
os.replace(tmp, out)

print(f"DeiT-S-shape float forward, {threads} threads, {cpu} ({os.cpu_count()} cores), median of {rounds} round(s)"
      + (f", OPENBLAS_CORETYPE={coretype}" if coretype else "") + f"; OpenBLAS core {ctx.get('openblas_core')}"
      + f"; PyTorch OMP_WAIT_POLICY={torch_omp_wait}")
print("1-min load average at each engine's start: "
      + ", ".join(f"{e} {'/'.join(f'{x:.1f}' for x in v)}" for e, v in result["load_average_1min"].items()))
cols = ["batch", "qvit img/s", "PyTorch img/s", "ORT img/s", "qvit/PyTorch", "qvit/ORT"]
print("| " + " | ".join(cols) + " |")
print("|" + "|".join("-" * (len(c) + 2) for c in cols) + "|")
for b in batches:
    cells = [str(b), f"{ips['qvit'][b]:.2f}", f"{ips['pytorch'][b]:.2f}", f"{ips['onnxruntime'][b]:.2f}",
             f"{result['ratio_qvit_over_pytorch'][str(b)]:.2f}x", f"{result['ratio_qvit_over_onnxruntime'][str(b)]:.2f}x"]
    print("| " + " | ".join(c.rjust(len(h)) for c, h in zip(cells, cols)) + " |")
worst = min(result["ratio_qvit_over_onnxruntime"].values())
print(f"target qvit/ORT >= 0.80x: {'met' if worst >= 0.8 else 'NOT met'} (worst {worst:.2f}x); JSON: {out}")
PYEOF
