#include "intgraph/int_op_util.h"

#include <algorithm>
#include <string>

#include "util/thread_pool.h"

namespace qvit::intops {

const int32_t* i32(const OpCall& c, size_t i) {
  const Tensor& t = c.input(i);
  if (t.dtype() != DType::Int32) c.fail("input " + std::to_string(i) + " must be int32, got " + dtype_name(t.dtype()));
  return t.data<int32_t>();
}

const int32_t* i32_values(const OpCall& c, size_t i, std::vector<int32_t>& scratch) {
  const Tensor& t = c.input(i);
  if (t.dtype() != DType::Int8) return i32(c, i);
  scratch.assign(t.data<int8_t>(), t.data<int8_t>() + t.numel());
  return scratch.data();
}

namespace {
// A plain function: its pointers are locals, so the compiler vectorizes the loop (through a
// lambda's captures it reloads them after every byte store, which may alias anything).
void narrow_range(const int32_t* v, int64_t begin, int64_t end, int32_t offset, uint8_t* dst) {
  for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<uint8_t>(v[i] - offset);
}
}  // namespace

void to_uint8_codes(const int32_t* v, int64_t n, int32_t offset, uint8_t* dst) {
  parallel_for(n, 1 << 16, [=](int64_t b, int64_t e) { narrow_range(v, b, e, offset, dst); });
}

int32_t attr32(const OpCall& c, const char* key) {
  const int64_t v = c.node.attr_int(key);
  if (v < INT32_MIN || v > INT32_MAX) c.fail(std::string("attribute ") + key + " out of int32 range");
  return static_cast<int32_t>(v);
}

int32_t checked_count(const OpCall& c, int64_t n) {
  if (n > INT32_MAX) c.fail("tensor too large for the int32 reference kernels");
  return static_cast<int32_t>(n);
}

int32_t checked_product(const OpCall& c, int64_t a, int64_t b) {
  int64_t p = 0;
  if (__builtin_mul_overflow(a, b, &p) || p > INT32_MAX) c.fail("tensor too large for the int32 reference kernels");
  return static_cast<int32_t>(p);
}

kernels::TruncationStats* stats_for(const OpCall& c) {
  auto* s = static_cast<IntRunStats*>(c.context);
  return s ? &s->per_node[c.node.name] : nullptr;
}

kernels::Checked32 max_abs(const int32_t* p, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, kernels::magnitude(p[i]));
  return {static_cast<int32_t>(std::min<uint32_t>(m, static_cast<uint32_t>(INT32_MAX))), m > static_cast<uint32_t>(INT32_MAX)};
}

}  // namespace qvit::intops
