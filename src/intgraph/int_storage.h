#pragma once
// Storage at the grid's width (a runtime plan, not part of the IntGraph format): which values the
// integer runtime keeps as uint8 codes instead of int32, value = code + offset.
//
// A value qualifies when it is the output of a clamped op (QRequantize, QLayerNorm, QAdd, QClamp)
// whose range [lo, hi] spans at most 256 values — every grid of 8 bits or fewer, centered or not —
// or a data-movement descendant of one (Reshape, Transpose, Slice, Split, Gather, ...), and every
// reader of all those values is a QMatMul operand: the int8 GEMM reads the codes as they are
// (offset = lo), so neither the int32 tensor nor the pass that turned it into codes exists. Any
// other reader (an op that computes on values, Concat/Pad that would mix storages, a graph output)
// keeps the whole family at int32. Only QMatMul (int_matmul.cc) and data movement ever see codes.
#include <cstdint>
#include <optional>
#include <vector>

#include "ir/graph.h"

namespace qvit {

// Per value id: the code offset when the value is stored as uint8 codes, else nullopt.
using CodeStorage = std::vector<std::optional<int32_t>>;

CodeStorage plan_code_storage(const Graph& g);

}  // namespace qvit
