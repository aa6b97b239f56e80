// validate_int_graph (int_graph_check.h): the structure, dtypes, constants and declared shapes of an
// IntGraph, node by node. The declared shapes are what a file states; the kernels check the shapes
// they are actually given again at run time, so a file whose shapes lie is refused there instead.
#include <algorithm>
#include <set>

#include "intgraph/int_graph_check.h"
#include "intgraph/int_ops.h"
#include "util/limits.h"

namespace qvit {

namespace {

[[noreturn]] void fail(const Node& node, const std::string& what) { throw Error(node.describe() + ": " + what); }

std::string input_str(size_t i) { return "input " + std::to_string(i); }

// Declared shape of input i (present: checked by the caller).
const Shape& in_shape(const Graph& g, const Node& node, size_t i) { return g.value(node.inputs[i]).shape; }

bool has_input(const Node& node, size_t i) { return i < node.inputs.size() && node.inputs[i] >= 0; }

int64_t dim(const Shape& s, int64_t axis) { return s[static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(s.size()) : axis)]; }

void expect_rank_at_least(const Node& node, const Shape& s, size_t i, size_t rank) {
  if (s.size() < rank) fail(node, input_str(i) + " has shape " + shape_str(s) + ", needs rank ≥ " + std::to_string(rank));
}

void expect_numel(const Node& node, const Graph& g, size_t i, int64_t numel, const std::string& what) {
  const int64_t n = shape_numel(in_shape(g, node, i));
  if (n != numel)
    fail(node, input_str(i) + " (" + what + ") has " + std::to_string(n) + " elements, expected " + std::to_string(numel));
}

void expect_output(const Graph& g, const Node& node, const Shape& want) {
  const Shape& got = g.value(node.outputs[0]).shape;
  if (got != want) fail(node, "output is declared " + shape_str(got) + ", the op gives " + shape_str(want));
}

// Normalized axis of a rank-r tensor, or an Error naming the attribute.
int64_t axis_in(const Node& node, const char* key, int64_t axis, size_t rank) {
  const int64_t r = std::max<int64_t>(static_cast<int64_t>(rank), 1);
  if (axis < -r || axis >= r)
    fail(node, std::string("attribute '") + key + "' = " + std::to_string(axis) + " is outside [" + std::to_string(-r) + ", " +
                   std::to_string(r - 1) + "] (input rank " + std::to_string(rank) + ")");
  return axis < 0 ? axis + r : axis;
}

void check_matmul(const Graph& g, const Node& node, bool log2) {
  const Shape& a = in_shape(g, node, 0);
  const Shape& b = in_shape(g, node, 1);
  expect_rank_at_least(node, a, 0, 2);
  expect_rank_at_least(node, b, 1, 2);
  if (log2 && a.size() != b.size()) fail(node, "operands " + shape_str(a) + " and " + shape_str(b) + " differ in rank");
  const int64_t m = dim(a, -2), k = dim(a, -1), n = dim(b, -1);
  if (dim(b, -2) != k) fail(node, "inner dimensions differ: " + shape_str(a) + " × " + shape_str(b));
  // Products of dims, overflow-checked: an empty tensor's other dims can be anything.
  const std::string what = node.describe() + ": operand shapes";
  const int64_t count = shape_numel(a) / std::max<int64_t>(checked_mul(m, k, what), 1);
  if ((log2 || b.size() > 2) && shape_numel(b) / std::max<int64_t>(checked_mul(k, n, what), 1) != count)
    fail(node, "batch shapes differ: " + shape_str(a) + " × " + shape_str(b));
  if (has_input(node, 2)) expect_numel(node, g, 2, n, "bias, one per output column");
  Shape out = a;
  out.back() = n;
  expect_output(g, node, out);
}

void check_conv(const Graph& g, const Node& node) {
  const Shape& x = in_shape(g, node, 0);
  const Shape& w = in_shape(g, node, 1);
  if (x.size() != 4 || w.size() != 4)
    fail(node, "input " + shape_str(x) + " and weight " + shape_str(w) + " must both be rank 4 (2-D convolution)");
  if (w[1] != x[1]) fail(node, "weight " + shape_str(w) + " has " + std::to_string(w[1]) + " input channels, the input " + std::to_string(x[1]));
  if (has_input(node, 2)) expect_numel(node, g, 2, w[0], "bias, one per output channel");
  const auto s = node.attr_ints("strides", {1, 1}), p = node.attr_ints("pads", {0, 0, 0, 0}), d = node.attr_ints("dilations", {1, 1});
  // Attribute ranges (checked before) bound every term: no int64 overflow.
  const int64_t oh = (x[2] + p[0] + p[2] - (d[0] * (w[2] - 1) + 1)) / s[0] + 1;
  const int64_t ow = (x[3] + p[1] + p[3] - (d[1] * (w[3] - 1) + 1)) / s[1] + 1;
  if (oh <= 0 || ow <= 0) fail(node, "kernel " + shape_str(w) + " is larger than the padded input " + shape_str(x));
  expect_output(g, node, {x[0], w[0], oh, ow});
}

void check_requantize(const Graph& g, const Node& node) {
  const Shape& x = in_shape(g, node, 0);
  const Tensor& rq = g.constant(node.inputs[1]);
  check_requant_table(node, 1, rq, 0);
  const int64_t axis = axis_in(node, "axis", node.attr_int("axis"), x.size());
  if (rq.shape()[0] > 1 && (x.empty() || x[static_cast<size_t>(axis)] != rq.shape()[0]))
    fail(node, "requantizer table has " + std::to_string(rq.shape()[0]) + " rows (per channel), the input " + shape_str(x) +
                   " has " + (x.empty() ? std::string("no axis ") : std::to_string(x[static_cast<size_t>(axis)]) + " channels along axis ") +
                   std::to_string(node.attr_int("axis")));
  expect_output(g, node, x);
}

void check_mean(const Graph& g, const Node& node) {
  const Shape& x = in_shape(g, node, 0);
  std::set<int64_t> axes;
  for (int64_t a : node.attr_ints("axes"))
    if (!axes.insert(axis_in(node, "axes", a, x.size())).second) fail(node, "attribute 'axes' repeats axis " + std::to_string(a));
  if (x.empty()) fail(node, "input is a scalar: nothing to average");
  Shape out;
  int64_t count = 1;
  for (size_t a = 0; a < x.size(); ++a) {
    if (!axes.count(static_cast<int64_t>(a))) {
      out.push_back(x[a]);
      continue;
    }
    count = checked_mul(count, x[a], node.describe() + ": reduction size");
    if (node.attr_int("keepdims")) out.push_back(1);
  }
  if (count < 1 || count > INT32_MAX) fail(node, "averages " + std::to_string(count) + " elements, outside [1, 2^31 - 1]");
  expect_output(g, node, out);
}

void check_max_pool(const Graph& g, const Node& node) {
  const Shape& x = in_shape(g, node, 0);
  expect_rank_at_least(node, x, 0, 3);
  const size_t spatial = x.size() - 2;
  auto expect_len = [&](const char* key, size_t len) {
    if (node.has_attr(key) && node.attr_ints(key).size() != len)
      fail(node, std::string("attribute '") + key + "' has " + std::to_string(node.attr_ints(key).size()) + " values, the input " +
                     shape_str(x) + " needs " + std::to_string(len));
  };
  expect_len("kernel_shape", spatial);
  expect_len("strides", spatial);
  expect_len("dilations", spatial);
  expect_len("pads", 2 * spatial);
}

// The per-op checks of one Q* node whose attributes and constant inputs were checked already.
void check_q_node(const Graph& g, const Node& node) {
  const std::string& op = node.op;
  if (op == "QMatMul") return check_matmul(g, node, false);
  if (op == "QLog2MatMul") return check_matmul(g, node, true);
  if (op == "QConv") return check_conv(g, node);
  if (op == "QRequantize") return check_requantize(g, node);
  if (op == "QMean") return check_mean(g, node);
  if (op == "QMaxPool") return check_max_pool(g, node);
  const Shape& x = in_shape(g, node, 0);
  if (op == "QAdd") {
    check_requant_table(node, 2, g.constant(node.inputs[2]), 2);
    const int64_t a = shape_numel(x), b = shape_numel(in_shape(g, node, 1));
    if (b == 0 || a % b != 0)
      fail(node, "input 1 " + shape_str(in_shape(g, node, 1)) + " does not repeat over input 0 " + shape_str(x));
  } else if (op == "QLayerNorm") {
    expect_rank_at_least(node, x, 0, 1);
    const int64_t c = x.back();
    if (c < 1) fail(node, "input " + shape_str(x) + " has no channels");
    expect_numel(node, g, 1, c, "gamma, one per channel");
    expect_numel(node, g, 2, c, "beta, one per channel");
    check_requant_table(node, 3, g.constant(node.inputs[3]), c);
  } else if (op == "QLog2Codes") {
    check_requant_table(node, 1, g.constant(node.inputs[1]), 1);
  } else if (op == "QMulConst") {
    const int64_t a = shape_numel(x), c = g.constant(node.inputs[1]).numel();
    if (c == 0 || a % c != 0)
      fail(node, "input 1 " + shape_str(in_shape(g, node, 1)) + " does not repeat over input 0 " + shape_str(x));
  } else if (op == "QShiftmax" || op == "QIBertSoftmax" || op == "QInt32SafeSoftmax") {
    expect_rank_at_least(node, x, 0, 1);  // rows over the last axis
  }
  expect_output(g, node, x);  // every remaining op keeps its input's shape
}

void check_node(const Graph& g, const Node& node) {
  const IntOpSpec* spec = find_int_op_spec(node.op);
  if (!spec) {
    if (!is_int_data_movement_op(node.op))
      fail(node, "unknown op '" + node.op.substr(0, 60) + "' (not in the integer op set)");
    if (node.outputs.empty() || (node.op != "Split" && node.outputs.size() != 1))
      fail(node, "has " + std::to_string(node.outputs.size()) + " outputs, expected " + (node.op == "Split" ? "at least 1" : "1"));
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (v >= 0 && g.value(v).dtype != DType::Int32 && g.value(v).dtype != DType::Int64)
        fail(node, input_str(i) + " '" + g.value(v).name + "' is " + dtype_name(g.value(v).dtype) + ", not int32/int64");
    }
    return;
  }
  if (node.inputs.size() < spec->min_inputs || node.inputs.size() > spec->max_inputs)
    fail(node, "has " + std::to_string(node.inputs.size()) + " inputs, expected " + std::to_string(spec->min_inputs) +
                   (spec->max_inputs > spec->min_inputs ? "–" + std::to_string(spec->max_inputs) : ""));
  if (node.outputs.size() != 1 || node.outputs[0] < 0) fail(node, "must have exactly one output");
  // Only QMatMul's / QConv's bias (input 2) may be omitted.
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int v = node.inputs[i];
    if (v < 0) {
      if (i < spec->min_inputs) fail(node, input_str(i) + " is required");
      continue;
    }
    // A QMatMul/QConv weight may be stored at int8 (the loader keeps the file's int8 weights).
    const bool int8_weight = i == 1 && spec->input1_is_weight && g.is_constant(v) && g.value(v).dtype == DType::Int8;
    if (g.value(v).dtype != DType::Int32 && !int8_weight)
      fail(node, input_str(i) + " '" + g.value(v).name + "' is " + dtype_name(g.value(v).dtype) + ", not int32");
    // As the kernels require (int_ops.cc): only an empty tensor can have such a dim, and products
    // of them would overflow the size arithmetic.
    for (int64_t d : g.value(v).shape)
      if (d > INT32_MAX) fail(node, input_str(i) + " " + shape_str(g.value(v).shape) + " has a dimension above 2^31 - 1");
  }
  for (size_t i : spec->constant_inputs)
    if (has_input(node, i) && !g.is_constant(node.inputs[i]))
      fail(node, input_str(i) + " '" + g.value(node.inputs[i]).name + "' must be an initializer (a constant)");
  if (g.value(node.outputs[0]).dtype != DType::Int32)
    fail(node, "output '" + g.value(node.outputs[0]).name + "' is declared " + dtype_name(g.value(node.outputs[0]).dtype) + ", not int32");
  check_int_node_attributes(node);
  check_q_node(g, node);
}

}  // namespace

void validate_int_graph(const Graph& g, const std::string& source) {
  try {
    for (int id : g.inputs)
      if (g.value(id).dtype != DType::Int32)
        throw Error("input '" + g.value(id).name + "' must be int32, is " + dtype_name(g.value(id).dtype));
    // Declared shapes: non-negative dims, element counts that fit int64 (shape_numel throws).
    for (const Value& v : g.values) shape_numel(v.shape);
    for (const Node& node : g.nodes) check_node(g, node);
    if (g.outputs.empty()) throw Error("the graph has no output");
    std::set<int> seen;
    for (int id : g.outputs) {
      if (!seen.insert(id).second) throw Error("output '" + g.value(id).name + "' is listed twice");
      if (g.value(id).dtype != DType::Int32)
        throw Error("output '" + g.value(id).name + "' must be int32, is " + dtype_name(g.value(id).dtype));
    }
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
}

}  // namespace qvit
