// Kernels of the IntGraph op set (int_ops.h): unpack attributes and Int32 operands, call the
// kernels (kernels/reference, or the optimized path paired with each), count truncations per
// node. The linear ops (QMatMul, QConv) and their int8 GEMM are in int_matmul.cc.
#include "intgraph/int_ops.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "intgraph/int_graph_check.h"
#include "intgraph/int_matmul.h"
#include "intgraph/int_op_util.h"
#include "kernels/eltwise_kernels.h"
#include "kernels/reference/log2_attention.h"
#include "kernels/kernel_path.h"
#include "kernels/softmax_kernels.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {

using intops::attr32;
using intops::checked_count;
using intops::checked_product;
using intops::i32;
using intops::stats_for;
using kernels::Requant;
using kernels::TruncationStats;
namespace ref = kernels::ref;

// The table is an input like any other: checked on every call (the loader checked the file's
// constants already, but a graph built in code reaches the kernels only through here).
std::vector<Requant> requants(const OpCall& c, size_t i, int64_t expect) {
  const Tensor& t = c.input(i);
  check_requant_table(c.node, i, t, expect);
  std::vector<Requant> rq(static_cast<size_t>(t.shape()[0]));
  for (size_t k = 0; k < rq.size(); ++k) {
    const int32_t* p = t.data<int32_t>() + 3 * k;
    rq[k] = {p[0], p[1], p[2]};
  }
  return rq;
}

ref::ClampRange clamp_range(const OpCall& c) { return {attr32(c, "lo"), attr32(c, "hi")}; }

// QRequantize straight to uint8 codes (the storage plan's output): the kernels write the codes,
// so the int32 tensor is never written out. The same requantizer on the same elements, so the
// same results and counts.
bool requantize_to_codes(const OpCall& c, const Tensor& x, const int32_t* px, const std::vector<Requant>& rq,
                         ref::ClampRange range, std::vector<Tensor>& out) {
  const auto* prep = static_cast<const IntNodePrep*>(c.prepared);
  if (!prep || !prep->output_offset || x.rank() < 1) return false;
  const int64_t channels = x.dim(-1);
  if (rq.size() != 1 && (channels != static_cast<int64_t>(rq.size()) ||
                         normalize_axis(c, c.node.attr_int("axis", -1), x.rank()) != x.rank() - 1))
    return false;
  out[0] = Tensor(DType::UInt8, x.shape(), Tensor::Uninitialized{});
  uint8_t* codes = out[0].data<uint8_t>();
  const int32_t offset = *prep->output_offset;
  if (rq.size() == 1)
    kernels::requantize_codes(px, codes, checked_count(c, x.numel()), rq[0], range, offset, stats_for(c));
  else
    kernels::requantize_per_channel_codes(px, codes, checked_count(c, x.numel() / channels), checked_count(c, channels),
                                          rq.data(), range, offset, stats_for(c));
  return true;
}

void op_QRequantize(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int32_t* px = i32(c, 0);
  const std::vector<Requant> rq = requants(c, 1, 0);
  const ref::ClampRange range = clamp_range(c);
  if (x.numel() != 0) {
    checked_count(c, x.numel());  // the kernels index rows · channels in int32
    if (requantize_to_codes(c, x, px, rq, range, out)) return;
  }
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  int32_t* py = out[0].data<int32_t>();
  if (x.numel() == 0) return;  // (before products of an empty tensor's possibly huge dims)
  if (rq.size() == 1) {
    kernels::requantize(px, py, checked_count(c, x.numel()), rq[0], range, stats_for(c));
    return;
  }
  if (x.rank() < 1) c.fail("a per-channel requantizer needs an input with a channel axis");
  const int axis = normalize_axis(c, c.node.attr_int("axis", -1), x.rank());
  const int64_t channels = x.shape()[axis];
  if (channels != static_cast<int64_t>(rq.size())) c.fail("per-channel requantizer does not match the channel axis");
  int64_t inner = 1;
  for (int a = axis + 1; a < x.rank(); ++a) inner *= x.shape()[a];
  if (inner == 1) {
    kernels::requantize_per_channel(px, py, checked_count(c, x.numel() / channels), checked_count(c, channels), rq.data(),
                                range, stats_for(c));
    return;
  }
  // Channel axis not last (NCHW): one per-tensor call per contiguous run of a channel.
  const int64_t outer = x.numel() / (channels * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t ch = 0; ch < channels; ++ch) {
      const int64_t off = (o * channels + ch) * inner;
      kernels::requantize(px + off, py + off, checked_count(c, inner), rq[ch], range, stats_for(c));
    }
}

void op_QAdd(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  if (b.numel() == 0 || a.numel() % b.numel() != 0) c.fail("second operand must repeat over the first");
  const std::vector<Requant> rq = requants(c, 2, 2);
  ref::AddParams p{rq[0], rq[1], attr32(c, "shift"), clamp_range(c)};
  out[0] = Tensor(DType::Int32, a.shape(), Tensor::Uninitialized{});
  kernels::add(i32(c, 0), checked_count(c, a.numel()), i32(c, 1), checked_count(c, b.numel()), out[0].data<int32_t>(), p,
           stats_for(c));
}

// Row-wise ops over the last axis.
template <class F>
void rows_op(const OpCall& c, std::vector<Tensor>& out, F kernel) {
  const Tensor& x = c.input(0);
  if (x.rank() < 1) c.fail("input must have rank >= 1");
  checked_count(c, x.numel());  // the kernels index rows · cols in int32
  const int64_t cols = x.dim(-1);
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernel(i32(c, 0), out[0].data<int32_t>(), checked_count(c, x.numel() / std::max<int64_t>(cols, 1)),
         checked_count(c, cols), stats_for(c));
}

ref::IExpParams iexp_params(const OpCall& c) {
  return {attr32(c, "ln2"), attr32(c, "b"), attr32(c, "c"), attr32(c, "z_max")};
}

void op_QShiftmax(const OpCall& c, std::vector<Tensor>& out) {
  ref::ShiftmaxParams p{{attr32(c, "i0"), attr32(c, "n")}, {ref::ProbFormat::kUniform, attr32(c, "out_bits")}};
  rows_op(c, out, [&](const int32_t* x, int32_t* y, int32_t rows, int32_t cols, TruncationStats* s) {
    kernels::shiftmax(x, y, rows, cols, p, s);
  });
}

void op_QIBertSoftmax(const OpCall& c, std::vector<Tensor>& out) {
  ref::IBertSoftmaxParams p{iexp_params(c), {ref::ProbFormat::kUniform, attr32(c, "out_bits")}};
  rows_op(c, out, [&](const int32_t* x, int32_t* y, int32_t rows, int32_t cols, TruncationStats* s) {
    kernels::ibert_softmax(x, y, rows, cols, p, s);
  });
}

void op_QInt32SafeSoftmax(const OpCall& c, std::vector<Tensor>& out) {
  ref::Int32SafeSoftmaxParams p{iexp_params(c), attr32(c, "m_star")};
  rows_op(c, out, [&](const int32_t* x, int32_t* y, int32_t rows, int32_t cols, TruncationStats* s) {
    kernels::int32safe_softmax(x, y, rows, cols, p, s);
  });
}

void op_QShiftGelu(const OpCall& c, std::vector<Tensor>& out) {
  ref::ShiftGeluParams p{{attr32(c, "i0"), attr32(c, "n")}, attr32(c, "sigmoid_bits")};
  const Tensor& x = c.input(0);
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernels::shiftgelu(i32(c, 0), out[0].data<int32_t>(), checked_count(c, x.numel()), p, stats_for(c));
}

void op_QIBertGelu(const OpCall& c, std::vector<Tensor>& out) {
  ref::IBertGeluParams p{{attr32(c, "clip"), attr32(c, "one"), attr32(c, "shift")}, attr32(c, "one_shifted")};
  const Tensor& x = c.input(0);
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernels::ibert_gelu(i32(c, 0), out[0].data<int32_t>(), checked_count(c, x.numel()), p, stats_for(c));
}

void op_QLayerNorm(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  if (x.rank() < 1 || x.dim(-1) < 1) c.fail("input " + shape_str(x.shape()) + " has no channel axis");
  checked_count(c, x.numel());  // the kernel indexes rows · channels in int32
  const int64_t channels = x.dim(-1);
  ref::ILayerNormParams p;
  p.input_bits = attr32(c, "input_bits");
  p.shift_m = attr32(c, "shift_m");
  p.var_eps = attr32(c, "var_eps");
  p.range = clamp_range(c);
  if (c.input(1).numel() != channels || c.input(2).numel() != channels) c.fail("gamma/beta must have C elements");
  p.gamma.assign(i32(c, 1), i32(c, 1) + channels);
  p.beta.assign(i32(c, 2), i32(c, 2) + channels);
  p.rq = requants(c, 3, channels);
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernels::ilayernorm(i32(c, 0), out[0].data<int32_t>(), checked_count(c, x.numel() / channels), p, stats_for(c));
}

void op_QLog2Codes(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const std::vector<Requant> rq = requants(c, 1, 1);
  const int32_t n = checked_count(c, x.numel());
  std::vector<int32_t> scaled(static_cast<size_t>(n));
  kernels::requantize(i32(c, 0), scaled.data(), n, rq[0], {0, INT32_MAX}, stats_for(c));
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  ref::probs_to_log2_codes(scaled.data(), out[0].data<int32_t>(), n, attr32(c, "frac_bits"), attr32(c, "code_bits"));
}

void op_QLog2MatMul(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& a = c.input(0);
  const Tensor& v = c.input(1);
  if (a.rank() < 2 || v.rank() != a.rank()) c.fail("operands must have equal rank >= 2");
  const int64_t m = a.dim(-2), k = a.dim(-1), n = v.dim(-1);
  if (v.dim(-2) != k) c.fail("inner dimensions differ");
  // The kernel indexes its operands in int32.
  const int64_t count = a.numel() / std::max<int64_t>(checked_product(c, m, k), 1);
  if (v.numel() / std::max<int64_t>(checked_product(c, k, n), 1) != count) c.fail("batch shapes differ");
  checked_product(c, m, n);
  ref::Log2MatmulParams p{attr32(c, "frac_bits"), attr32(c, "sqrt2"), attr32(c, "code_bits")};
  Shape os = a.shape();
  os.back() = n;
  out[0] = Tensor(DType::Int32, os, Tensor::Uninitialized{});
  const int32_t* pa = i32(c, 0);
  const int32_t* pv = i32(c, 1);
  // Per image and head in parallel (the reference kernel on each), counts summed in order after.
  std::vector<TruncationStats> per(static_cast<size_t>(count));
  const int32_t m32 = checked_count(c, m), k32 = checked_count(c, k), n32 = checked_count(c, n);
  int32_t* py = out[0].data<int32_t>();
  const bool ref_path = kernels::active_kernel_path() == kernels::KernelPath::Ref;
  auto products = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ref::log2_matmul(pa + i * m * k, pv + i * k * n, py + i * m * n, m32, k32, n32, p, &per[i]);
  };
  if (ref_path) products(0, count);
  else parallel_for(count, 1, products);
  if (auto* s = stats_for(c))
    for (const auto& t : per) s->add(t);
}

// The sums of QMean when the reduced axes are one contiguous block, x = [outer, reduced, inner],
// and no partial sum can leave int32 (elements · max|x| < 2^31): then the saturating sums in
// element order are the plain sums, added here row by row (vectorizable) instead of element by
// element with an index computation each. False (nothing written) when that does not hold.
bool mean_of_contiguous_axes(const int32_t* x, const Shape& shape, const std::vector<char>& reduce, int32_t* sums) {
  const int r = static_cast<int>(shape.size());
  int first = r, last = -1;
  for (int a = 0; a < r; ++a)
    if (reduce[a]) first = std::min(first, a), last = a;
  if (last < 0) return false;
  for (int a = first; a <= last; ++a)
    if (!reduce[a]) return false;
  int64_t outer = 1, reduced = 1, inner = 1;
  for (int a = 0; a < r; ++a) (a < first ? outer : a <= last ? reduced : inner) *= shape[a];
  const int64_t n = outer * reduced * inner;
  const kernels::Checked32 largest = intops::max_abs(x, n);  // lost: some |x| is 2^31
  if (largest.lost || static_cast<int64_t>(largest.value) * reduced > INT32_MAX) return false;
  for (int64_t o = 0; o < outer; ++o) {
    int32_t* acc = sums + o * inner;
    for (int64_t k = 0; k < reduced; ++k) {
      const int32_t* row = x + (o * reduced + k) * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] += row[i];
    }
  }
  return true;
}

// Rounded integer mean over `axes` (ReduceMean semantics; GlobalAveragePool lowers to it).
void op_QMean(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const int r = x.rank();
  std::vector<char> reduce(r, 0);
  for (int64_t a : c.node.attr_ints("axes")) reduce[normalize_axis(c, a, r)] = 1;
  Shape os, kept;
  int64_t count = 1;
  for (int a = 0; a < r; ++a) {
    if (reduce[a]) {
      if (__builtin_mul_overflow(count, x.shape()[a], &count)) c.fail("bad reduction size");
      if (c.node.attr_int("keepdims", 1)) os.push_back(1);
    } else {
      os.push_back(x.shape()[a]);
    }
  }
  if (count == 0 || count > INT32_MAX) c.fail("bad reduction size");
  out[0] = Tensor(DType::Int32, os);
  // int32 sums (saturating; a saturated sum counts as a truncation), then one rounded division.
  std::vector<int32_t> sum(static_cast<size_t>(out[0].numel()), 0);
  std::vector<char> lost(sum.size(), 0);
  const int32_t* px = i32(c, 0);
  if (mean_of_contiguous_axes(px, x.shape(), reduce, sum.data())) {
    int32_t* py = out[0].data<int32_t>();
    for (int64_t o = 0; o < out[0].numel(); ++o) py[o] = kernels::div_round(sum[o], static_cast<int32_t>(count)).value;
    if (auto* s = stats_for(c)) s->add(0, checked_count(c, out[0].numel()));
    return;
  }
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0;
    for (int a = r - 1; a >= 0; --a) {
      idx[a] = rem % x.shape()[a];
      rem /= x.shape()[a];
    }
    for (int a = 0; a < r; ++a)
      if (!reduce[a]) o = o * x.shape()[a] + idx[a];
    const kernels::Checked32 t = kernels::sat_add(sum[o], px[i]);
    sum[o] = t.value;
    lost[o] = lost[o] || t.lost;
  }
  int32_t events = 0;
  for (int64_t o = 0; o < out[0].numel(); ++o) {
    events += lost[o] ? 1 : 0;
    out[0].data<int32_t>()[o] = kernels::div_round(sum[o], static_cast<int32_t>(count)).value;
  }
  if (auto* s = stats_for(c)) s->add(events, checked_count(c, out[0].numel()));
}

// max(lo, min(v, hi)): ReLU (lo 0) and Clip on codes.
void op_QClamp(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const ref::ClampRange range = clamp_range(c);
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernels::clamp_codes(i32(c, 0), out[0].data<int32_t>(), checked_count(c, x.numel()), range);
}

// x · c, c int32 repeating over x's leading elements (sign flips, small integer factors).
void op_QMulConst(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& k = c.input(1);
  if (k.dtype() != DType::Int32 || k.numel() == 0 || x.numel() % k.numel() != 0) c.fail("constant must repeat over the input");
  out[0] = Tensor(DType::Int32, x.shape(), Tensor::Uninitialized{});
  kernels::mul_const(i32(c, 0), checked_count(c, x.numel()), k.data<int32_t>(), checked_count(c, k.numel()),
                 out[0].data<int32_t>(), stats_for(c));
}

// The float op set's MaxPool is element-type generic: on int32 codes it is exact.
void op_QMaxPool(const OpCall& c, std::vector<Tensor>& out) {
  if (c.input(0).dtype() != DType::Int32) c.fail("expects int32 codes");
  static const OpFn max_pool = find_op("MaxPool");
  max_pool(c, out);
}

// v − offset as uint8; the op clamped v to [offset, offset + 255] (the plan checked its lo/hi).
Tensor to_codes(const OpCall& c, const Tensor& v, int32_t offset) {
  if (v.dtype() != DType::Int32) c.fail("a planned uint8 output must come from int32 values");
  Tensor codes(DType::UInt8, v.shape(), Tensor::Uninitialized{});
  intops::to_uint8_codes(v.data<int32_t>(), v.numel(), offset, codes.data<uint8_t>());
  return codes;
}

// Every Q* kernel starts here: the node's attributes against the op table (int_graph_check.h), so
// no reference kernel sees a parameter outside its preconditions, however the graph was made.
// Dims are bounded too: only an empty tensor can have a dim above 2^31 − 1 (the tensor byte cap),
// and products of such dims would overflow int64 in the kernels' size arithmetic.
template <OpFn Kernel>
void checked(const OpCall& c, std::vector<Tensor>& out) {
  if (out.size() != 1) c.fail("must have exactly one output");
  check_int_node_attributes(c.node);
  for (size_t i = 0; i < c.in.size(); ++i)
    if (c.in[i])
      for (int64_t d : c.in[i]->shape())
        if (d > INT32_MAX) c.fail("input " + std::to_string(i) + " " + shape_str(c.in[i]->shape()) + " has a dimension above 2^31 - 1");
  Kernel(c, out);
  // The storage plan (int_storage.h) keeps this output as uint8 codes for the QMatMuls reading it.
  if (const auto* prep = static_cast<const IntNodePrep*>(c.prepared);
      prep && prep->output_offset && out[0].dtype() == DType::Int32)
    out[0] = to_codes(c, out[0], *prep->output_offset);
}

const std::unordered_map<std::string, OpFn>& int_ops() {
  static const std::unordered_map<std::string, OpFn> ops = {
      {"QMatMul", checked<op_QMatMul>},         {"QConv", checked<op_QConv>},
      {"QRequantize", checked<op_QRequantize>}, {"QAdd", checked<op_QAdd>},
      {"QShiftmax", checked<op_QShiftmax>},     {"QIBertSoftmax", checked<op_QIBertSoftmax>},
      {"QInt32SafeSoftmax", checked<op_QInt32SafeSoftmax>},
      {"QShiftGelu", checked<op_QShiftGelu>},   {"QIBertGelu", checked<op_QIBertGelu>},
      {"QLayerNorm", checked<op_QLayerNorm>},   {"QLog2Codes", checked<op_QLog2Codes>},
      {"QLog2MatMul", checked<op_QLog2MatMul>}, {"QMean", checked<op_QMean>},
      {"QClamp", checked<op_QClamp>},           {"QMaxPool", checked<op_QMaxPool>},
      {"QMulConst", checked<op_QMulConst>},
  };
  return ops;
}

}  // namespace

bool is_int_compute_op(const std::string& op_type) { return int_ops().count(op_type) != 0; }

bool is_int_data_movement_op(const std::string& op_type) {
  static const std::set<std::string> ops = {"Reshape", "Transpose", "Slice",    "Concat", "Gather", "Flatten",
                                            "Squeeze", "Unsqueeze", "Identity", "Pad",    "Split"};
  return ops.count(op_type) != 0;
}

OpFn find_int_op(const std::string& op_type) {
  auto it = int_ops().find(op_type);
  return it != int_ops().end() ? it->second : find_op(op_type);
}

}  // namespace qvit
