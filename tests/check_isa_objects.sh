#!/usr/bin/env bash
# The x86 SIMD kernel objects (src/kernels/x86/*_<isa>.cc, compiled with -mavx2 / -mavx512*) must
# define no symbol the linker could share with other files: a weak (inline, template) function
# compiled there may be the copy the linker keeps for every caller, and then a CPU without that
# instruction set crashes outside the dispatch. Arguments: the object files of qvit_core.
set -euo pipefail
found=0
bad=0
for obj in "$@"; do
  case "$obj" in
    */kernels/x86/*.o) ;;
    *) continue ;;
  esac
  found=$((found + 1))
  # DW.ref.__gxx_personality_v0 (instrumented and exception-using objects) is a pointer to the
  # C++ runtime's unwinder, the same in every object: not code of this file.
  shared=$(nm -C --defined-only "$obj" | awk '$2 ~ /^[WVui]$/ && $3 !~ /^DW\.ref\./' || true)
  if [[ -n "$shared" ]]; then
    echo "error: $obj defines shared (weak/unique) symbols:" >&2
    echo "$shared" | head -20 >&2
    bad=1
  fi
done
if [[ $found -eq 0 ]]; then
  echo "error: no src/kernels/x86 objects among the $# given" >&2
  exit 1
fi
[[ $bad -eq 0 ]] && echo "$found ISA objects, no shared symbols"
exit $bad
