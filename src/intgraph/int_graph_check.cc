// The op table of the IntGraph format and the per-node attribute checks (int_graph_check.h).
#include "intgraph/int_graph_check.h"

#include <algorithm>

namespace qvit {

namespace {

using Rule = IntAttrRule;

// Window sizes, strides, pads and dilations of QConv / QMaxPool: far above any real model, small
// enough that every int64 index product of the kernels stays far from overflow (2^16 · 2^31).
constexpr int64_t kMaxWindowExtent = int64_t{1} << 16;

Rule int_attr(const char* name, int64_t lo, int64_t hi, bool required = true) {
  return {name, Rule::Int, lo, hi, required, 0, 0};
}
Rule ints_attr(const char* name, int64_t lo, int64_t hi, size_t min_len, size_t max_len, bool required) {
  return {name, Rule::Ints, lo, hi, required, min_len, max_len};
}
Rule string_attr(const char* name) { return {name, Rule::String, 0, 0, false, 0, 0}; }

// Clamp bounds: any int32 pair with lo <= hi (checked below).
std::vector<Rule> with_clamp(std::vector<Rule> rules) {
  rules.push_back(int_attr("lo", INT32_MIN, INT32_MAX));
  rules.push_back(int_attr("hi", INT32_MIN, INT32_MAX));
  return rules;
}

// The i-exp constants shared by the I-BERT and int32-safe softmaxes (exp_approx.h, validate()).
std::vector<Rule> iexp_rules(Rule last) {
  return {int_attr("ln2", 1, INT32_MAX), int_attr("b", 0, INT32_MAX), int_attr("c", 0, INT32_MAX),
          int_attr("z_max", 0, 30), std::move(last)};
}

// The shift exponential of Shiftmax / ShiftGELU (exp_approx.h, validate()).
std::vector<Rule> shift_exp_rules(Rule last) {
  return {int_attr("i0", -(int64_t{1} << 30), -1), int_attr("n", 0, 30), std::move(last)};
}

// (Built by append: GCC 12 misreports "literal" + std::to_string(...) as -Wrestrict.)
std::string range_str(int64_t lo, int64_t hi) {
  return std::string("[").append(std::to_string(lo)).append(", ").append(std::to_string(hi)).append("]");
}

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() > 8 ? ", …]" : "]");
}

[[noreturn]] void fail(const Node& node, const std::string& what) { throw Error(node.describe() + ": " + what); }

void check_rule(const Node& node, const Rule& r, const AttrValue& v) {
  const std::string a = "attribute '" + r.name + "'";
  switch (r.kind) {
    case Rule::Int: {
      const auto* i = std::get_if<int64_t>(&v);
      if (!i) fail(node, a + " must be an int");
      if (*i < r.lo || *i > r.hi) fail(node, a + " = " + std::to_string(*i) + " is outside " + range_str(r.lo, r.hi));
      return;
    }
    case Rule::Ints: {
      const auto* is = std::get_if<std::vector<int64_t>>(&v);
      if (!is) fail(node, a + " must be a list of ints");
      if (is->size() < r.min_len || is->size() > r.max_len)
        fail(node, a + " = " + ints_str(*is) + " has " + std::to_string(is->size()) + " values, expected " +
                       (r.min_len == r.max_len ? std::to_string(r.min_len)
                                               : std::to_string(r.min_len) + "–" + std::to_string(r.max_len)));
      for (int64_t x : *is)
        if (x < r.lo || x > r.hi)
          fail(node, a + " = " + ints_str(*is) + ": " + std::to_string(x) + " is outside " + range_str(r.lo, r.hi));
      return;
    }
    case Rule::String:
      if (!std::holds_alternative<std::string>(v)) fail(node, a + " must be a string");
      return;
  }
}

// An attribute already checked by check_rule.
int64_t int_of(const Node& node, const char* key) { return std::get<int64_t>(node.attrs.at(key)); }

// Constraints between attributes, each a kernel precondition.
void check_cross(const Node& node) {
  const std::string& op = node.op;
  if (node.attrs.count("lo") && node.attrs.count("hi") && int_of(node, "lo") > int_of(node, "hi"))
    fail(node, "attribute 'lo' = " + std::to_string(int_of(node, "lo")) + " is above attribute 'hi' = " +
                   std::to_string(int_of(node, "hi")) + " (an empty clamp range)");
  if (op == "QShiftmax" || op == "QShiftGelu") {
    // shift_exp clips its input at n·i0, computed in int32.
    const int64_t n = int_of(node, "n"), i0 = int_of(node, "i0");
    if (n * i0 < INT32_MIN)
      fail(node, "attributes n = " + std::to_string(n) + " and i0 = " + std::to_string(i0) + ": n·i0 does not fit int32");
  }
  if (op == "QIBertSoftmax" || op == "QInt32SafeSoftmax") {
    // i-exp clips its input at -z_max·ln2, computed in int32.
    const int64_t z = int_of(node, "z_max"), ln2 = int_of(node, "ln2");
    if (z * ln2 > INT32_MAX)
      fail(node, "attributes z_max = " + std::to_string(z) + " and ln2 = " + std::to_string(ln2) +
                     ": z_max·ln2 does not fit int32");
  }
  if (op == "QLayerNorm" && int_of(node, "input_bits") + int_of(node, "shift_m") > 31)
    fail(node, "attributes input_bits = " + std::to_string(int_of(node, "input_bits")) + " and shift_m = " +
                   std::to_string(int_of(node, "shift_m")) + ": input_bits + shift_m must be <= 31 (the shifted numerator is int32)");
  if (op == "QMaxPool" && node.attrs.count("auto_pad")) {
    const std::string& p = std::get<std::string>(node.attrs.at("auto_pad"));
    if (p != "NOTSET" && p != "VALID" && p != "SAME_UPPER" && p != "SAME_LOWER")
      fail(node, "attribute 'auto_pad' = '" + p.substr(0, 40) + "' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER");
  }
}

}  // namespace

const std::map<std::string, IntOpSpec>& int_op_specs() {
  constexpr int64_t kMax = INT32_MAX;
  static const std::map<std::string, IntOpSpec> specs = {
      {"QMatMul", {2, 3, true, {}, {2}}},
      {"QConv",
       {2,
        3,
        true,
        {ints_attr("strides", 1, kMaxWindowExtent, 2, 2, false), ints_attr("pads", 0, kMaxWindowExtent, 4, 4, false),
         ints_attr("dilations", 1, kMaxWindowExtent, 2, 2, false), int_attr("group", 1, 1, false)},
        {1, 2}}},
      // axis is checked against the input's rank where the rank is known (validate_int_graph, the kernel).
      {"QRequantize", {2, 2, false, with_clamp({int_attr("axis", INT32_MIN, INT32_MAX)}), {1}}},
      // A right shift of an int32 sum: 31 keeps only its sign.
      {"QAdd", {3, 3, false, with_clamp({int_attr("shift", 0, 31)}), {2}}},
      {"QShiftmax", {1, 1, false, shift_exp_rules(int_attr("out_bits", 2, 31)), {}}},
      {"QIBertSoftmax", {1, 1, false, iexp_rules(int_attr("out_bits", 2, 31)), {}}},
      {"QInt32SafeSoftmax", {1, 1, false, iexp_rules(int_attr("m_star", 1, 30)), {}}},
      {"QShiftGelu", {1, 1, false, shift_exp_rules(int_attr("sigmoid_bits", 2, 31)), {}}},
      {"QIBertGelu",
       {1, 1, false, {int_attr("clip", 1, kMax), int_attr("one", 0, kMax), int_attr("shift", 0, 31), int_attr("one_shifted", 0, kMax)}, {}}},
      {"QLayerNorm",
       {4, 4, false, with_clamp({int_attr("input_bits", 1, 30), int_attr("shift_m", 0, 30), int_attr("var_eps", 0, kMax)}), {1, 2, 3}}},
      // frac_bits: the probabilities' fraction bits, an int32 shift (prob_to_log2_code).
      {"QLog2Codes", {2, 2, false, {int_attr("frac_bits", 0, 31), int_attr("code_bits", 1, 16)}, {1}}},
      {"QLog2MatMul", {2, 2, false, {int_attr("frac_bits", 0, 30), int_attr("sqrt2", 1, kMax), int_attr("code_bits", 1, 16)}, {}}},
      // axes are checked against the input's rank where it is known.
      {"QMean", {1, 1, false, {ints_attr("axes", INT32_MIN, INT32_MAX, 1, 64, true), int_attr("keepdims", 0, 1)}, {}}},
      {"QClamp", {1, 1, false, with_clamp({}), {}}},
      {"QMulConst", {2, 2, false, {}, {1}}},
      {"QMaxPool",
       {1,
        1,
        false,
        {ints_attr("kernel_shape", 1, kMaxWindowExtent, 1, 8, true), ints_attr("strides", 1, kMaxWindowExtent, 1, 8, false),
         ints_attr("pads", 0, kMaxWindowExtent, 2, 16, false), ints_attr("dilations", 1, kMaxWindowExtent, 1, 8, false),
         int_attr("ceil_mode", 0, 1, false), int_attr("storage_order", 0, 0, false), string_attr("auto_pad")},
        {}}},
  };
  return specs;
}

const IntOpSpec* find_int_op_spec(const std::string& op) {
  auto it = int_op_specs().find(op);
  return it == int_op_specs().end() ? nullptr : &it->second;
}

void check_int_node_attributes(const Node& node) {
  const IntOpSpec* spec = find_int_op_spec(node.op);
  if (!spec) return;
  for (const auto& attr : node.attrs) {
    // Named, not a structured binding: clang 14 (the fuzz build) cannot capture bindings.
    const std::string& key = attr.first;
    const auto& value = attr.second;
    auto rule = std::find_if(spec->attributes.begin(), spec->attributes.end(), [&](const Rule& r) { return r.name == key; });
    if (rule == spec->attributes.end()) {
      std::string known;
      for (const Rule& r : spec->attributes) known += (known.empty() ? "" : ", ") + r.name;
      fail(node, "unknown attribute '" + key.substr(0, 40) + "' (" + node.op + " has " + (known.empty() ? "none" : known) + ")");
    }
    check_rule(node, *rule, value);
  }
  for (const Rule& r : spec->attributes)
    if (r.required && !node.attrs.count(r.name)) fail(node, "missing required attribute '" + r.name + "'");
  check_cross(node);
}

void check_requant_table(const Node& node, size_t input, const Tensor& rq, int64_t expect_rows) {
  const std::string what = "input " + std::to_string(input) + " (requantizer table)";
  if (rq.dtype() != DType::Int32 || rq.rank() != 2 || rq.shape()[1] != 3 || rq.shape()[0] < 1 ||
      (expect_rows > 0 && rq.shape()[0] != expect_rows))
    fail(node, what + " must be int32 [" + (expect_rows > 0 ? std::to_string(expect_rows) : std::string("C≥1")) + ",3], is " +
                   dtype_name(rq.dtype()) + " " + shape_str(rq.shape()));
  const int32_t* p = rq.data<int32_t>();
  static const char* const kField[3] = {"pre_shift", "m0", "post_shift"};
  const int64_t hi[3] = {kMaxPreShift, INT32_MAX, kMaxPostShift};
  for (int64_t row = 0; row < rq.shape()[0]; ++row)
    for (int k = 0; k < 3; ++k)
      if (p[3 * row + k] < 0 || p[3 * row + k] > hi[k])
        fail(node, what + " row " + std::to_string(row) + ": " + kField[k] + " = " + std::to_string(p[3 * row + k]) +
                       " is outside " + range_str(0, hi[k]));
}

std::set<int> linear_weight_constants(const Graph& g) {
  std::set<int> weights, other;
  for (const Node& node : g.nodes) {
    const IntOpSpec* spec = find_int_op_spec(node.op);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (!g.is_constant(v)) continue;
      const bool weight_slot = i == 1 && spec && spec->input1_is_weight;
      const DType t = g.constant(v).dtype();
      (weight_slot && (t == DType::Int32 || t == DType::Int8) ? weights : other).insert(v);
    }
  }
  for (int v : other) weights.erase(v);
  return weights;
}

}  // namespace qvit
