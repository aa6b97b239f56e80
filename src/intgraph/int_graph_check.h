#pragma once
// What every op of an IntGraph (int_ops.h) must carry, and the checks that enforce it. One table is
// the single source of truth for three users: the lowering (every node it emits), the .int.onnx
// exporter and loader (a file is checked against it before anything runs), and the integer kernels
// themselves (int_ops.cc re-checks its node's attributes on every call, so a graph built in code or
// edited after loading can still not reach a reference kernel's QVIT_CHECK or undefined behaviour).
// The ranges are the reference kernels' preconditions (kernels/reference/*.h, their validate()
// functions and QVIT_CHECKs), narrowed to the documented domain where a header defines one (a
// requantizer's m0 >= 0, a right shift of an int32 below 32).
// Every rejection is one qvit::Error line naming the node: "node 'n' (QAdd): attribute 'shift' = 64
// is outside [0, 31]" (the loader prefixes the file).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace qvit {

// One attribute of a qvit-domain op. Int: one int64 in [lo, hi]. Ints: min_len..max_len int64s,
// each in [lo, hi]. String: any string (checked where it is used).
struct IntAttrRule {
  enum Kind { Int, Ints, String };
  std::string name;
  Kind kind = Int;
  int64_t lo = INT32_MIN, hi = INT32_MAX;
  bool required = true;
  size_t min_len = 0, max_len = 0;  // Ints only
};

struct IntOpSpec {
  size_t min_inputs = 1, max_inputs = 1;
  bool input1_is_weight = false;  // a constant input 1 may be stored narrow (INT8 / packed int4)
  std::vector<IntAttrRule> attributes;
  // Inputs that must be constants (initializers in a file): requantizer tables, gamma/beta,
  // biases, convolution weights, QMulConst's factors.
  std::vector<size_t> constant_inputs;
};

// The qvit-domain ops by name (QMatMul, QConv, QRequantize, ...).
const std::map<std::string, IntOpSpec>& int_op_specs();
const IntOpSpec* find_int_op_spec(const std::string& op);

// Attributes of one Q* node: no unknown ones, the required ones present with the right kind, every
// value in its range, and the constraints between them (lo <= hi, n·i0 and z_max·ln2 fit int32,
// input_bits + shift_m <= 31). Throws Error "<node>: attribute ...". No-op for other ops.
void check_int_node_attributes(const Node& node);

// Requantizer table rq[C,3] (pre_shift, m0, post_shift per row) of `node`'s input `input`: int32,
// shape [rows, 3] (rows = expect_rows if > 0, else >= 1), pre_shift in [0, 31], m0 in
// [0, 2^31 - 1], post_shift in [0, 62] (what requant() in int_math.h computes without overflow).
void check_requant_table(const Node& node, size_t input, const Tensor& rq, int64_t expect_rows);
inline constexpr int32_t kMaxPreShift = 31;
inline constexpr int32_t kMaxPostShift = 62;

// The whole graph: ops in the IntGraph op set, input/output counts, dtypes, every Q* node's
// attributes, its constant inputs (requantizer tables, per-channel lengths, weight shapes against
// K/N, bias lengths) against the declared shapes of its data inputs, and its declared output shape.
// Errors are prefixed with `source` (a file, or the model the graph was lowered from).
void validate_int_graph(const Graph& g, const std::string& source);

// Constants read only as a QMatMul/QConv weight (input 1), int32 or int8: the ones the export
// and the loader may store narrow and the runtime keeps at int8.
std::set<int> linear_weight_constants(const Graph& g);

}  // namespace qvit
