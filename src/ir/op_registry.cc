#include "ir/op_registry.h"

#include <algorithm>
#include <unordered_map>

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

int normalize_axis(const OpCall& c, int64_t axis, int rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max(rank, 1)) c.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return static_cast<int>(a);
}

Shape broadcast_shapes(const OpCall& c, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      c.fail("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace qvit
