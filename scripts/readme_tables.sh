#!/usr/bin/env bash
# Re-measures every results table of the README, one after the other (never two at once: they
# share the 2 cores), into build/readme_tables/*.md. Takes about an hour on 2 cores.
#   scripts/readme_tables.sh [--only memory,zoo,quant,int,qdq,mixed,speed]
set -euo pipefail
cd "$(dirname "$0")/.."
only=${2:-memory,zoo,quant,int,qdq,mixed,speed}
[[ ${1:-} == --only ]] || only=memory,zoo,quant,int,qdq,mixed,speed
out=build/readme_tables
mkdir -p "$out"
want() { [[ ",$only," == *",$1,"* ]]; }
vit4mnist=../shared/data/models/vit4mnist_op13.onnx
mnist=../shared/data/mnist
if want memory; then tools/bench/memory_bounds.sh --json "$out/memory.json" > "$out/memory.md" || true; fi
if want zoo; then scripts/zoo_table.sh > "$out/zoo.md"; fi
if want quant; then
  for m in deit_fmnist swin_fmnist; do scripts/quant_table.sh "models/$m.onnx" > "$out/quant_$m.md"; done
  [[ -f $vit4mnist ]] && scripts/quant_table.sh "$vit4mnist" --calib-data "$mnist" > "$out/quant_vit4mnist.md"
fi
if want int; then
  for m in deit_fmnist swin_fmnist; do scripts/int_table.sh "models/$m.onnx" > "$out/int_$m.md"; done
  [[ -f $vit4mnist ]] && scripts/int_table.sh "$vit4mnist" --calib-data "$mnist" --recipes "w8a8 w4a4-crl" > "$out/int_vit4mnist.md"
fi
if want qdq; then
  for r in w8a8 w4a4 w6a6 w4a4-crl; do tools/qdq_ort_eval.sh --recipe "$r" --no-build --out "$out/qdq_$r.json" > "$out/qdq_$r.md" 2>&1 || true; done
fi
if want mixed; then tools/mixed_precision_table.py --bits 4,6 --scorers uniform,lrp,sensitivity > "$out/mixed_precision.md"; fi
if want speed; then
  tools/bench/run_int_bench.sh --rounds 3 --out "$out/int_bench.json" > "$out/int_bench.md"
  tools/bench/bundled_eval_speed.sh --rounds 3 --out "$out/bundled_eval.json" > "$out/bundled_eval.md"
fi
echo "tables in $out"
