#include "ir/op_registry.h"

#include <algorithm>
#include <unordered_map>

#include "util/limits.h"

namespace qvit {

const Tensor& OpCall::input(size_t i) const {
  if (i >= in.size() || in[i] == nullptr) fail("missing required input #" + std::to_string(i));
  return *in[i];
}

void OpCall::fail(const std::string& what) const { throw Error(node.describe() + ": " + what); }

namespace {
const std::unordered_map<std::string, OpFn>& table() {
  static const std::unordered_map<std::string, OpFn> map = [] {
    OpTable t;
    register_elementwise_ops(t);
    register_shape_ops(t);
    register_reduce_ops(t);
    register_nn_ops(t);
    register_conv_ops(t);
    register_pool_ops(t);
    register_quantize_linear_ops(t);
    return std::unordered_map<std::string, OpFn>(t.begin(), t.end());
  }();
  return map;
}
}  // namespace

OpFn find_op(const std::string& op_type) {
  auto it = table().find(op_type);
  return it == table().end() ? nullptr : it->second;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const auto& [k, v] : table()) names.push_back(k);
  std::sort(names.begin(), names.end());
  return names;
}

void require_f32(const OpCall& c, const Tensor& t, const char* what) {
  if (t.dtype() != DType::Float32) c.fail(std::string(what) + " must be float32, got " + dtype_name(t.dtype()));
}

int normalize_axis(const OpCall& c, int64_t axis, int rank) {
  // (axis + rank cannot overflow: rank is small and the sum is only formed for negative axes.)
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    if (rank == 0) c.fail("axis " + std::to_string(axis) + " given for a rank-0 (scalar) input, which has no axes");
    c.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  }
  return static_cast<int>(a);
}

void require_rank(const OpCall& c, const Tensor& t, int min_rank, const char* what) {
  if (t.rank() < min_rank)
    c.fail(std::string(what) + " must have rank >= " + std::to_string(min_rank) + ", got shape " + shape_str(t.shape()));
}

int64_t shape_mul(const OpCall& c, int64_t a, int64_t b) {
  int64_t r = 0;
  // Fast path without building the message; checked_mul throws the descriptive Error otherwise.
  if (a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &r)) return r;
  return checked_mul(a, b, c.node.describe());
}

int64_t shape_add(const OpCall& c, int64_t a, int64_t b) {
  int64_t r = 0;
  if (a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, &r)) return r;
  return checked_add(a, b, c.node.describe());
}

int64_t span_numel(const OpCall& c, const Shape& s, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i) n = shape_mul(c, n, s[i]);
  return n;
}

std::vector<int64_t> checked_strides(const OpCall& c, const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = shape_mul(c, st[i], s[i]);
  return st;
}

std::vector<int64_t> int_list_input(const OpCall& c, size_t i, const char* what) {
  const Tensor& t = c.input(i);
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    c.fail(std::string(what) + " (input #" + std::to_string(i) + ") must be int64, got " + dtype_name(t.dtype()));
  if (t.rank() > 1) c.fail(std::string(what) + " (input #" + std::to_string(i) + ") must be 1-D, got shape " + shape_str(t.shape()));
  return t.as_int64s();
}

Shape broadcast_shapes(const OpCall& c, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da < 0 || db < 0) c.fail("negative dimension in shape " + shape_str(da < 0 ? a : b));
    if (da != db && da != 1 && db != 1)
      c.fail("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace qvit
