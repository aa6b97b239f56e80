// QMatMul and QConv of the IntGraph op set. Three ways to one result (the reference's):
//   ref path     the reference kernel (kernels/reference/matmul.h): saturating, counting;
//   int8 GEMM    when A's values span at most 256 codes and B's too (every 8-bit grid, centered
//                or not): A as uint8 codes a' = v − a_off, B as int8 b' = v − b_off, and the
//                gemmlowp identity  Σ v_a v_b = Σ a'b' + b_off Σ a' + a_off Σ b' + k a_off b_off
//                folded into per-row and per-column offsets (kernels/gemm_u8s8.h);
//   int32 loop   other operands whose products provably fit int32 (wide grids).
// The fast ways run only when a bound proves that neither the reference's partial sums nor the
// kernel's can leave int32: then all three are the exact sum and no element is truncated.
#include "intgraph/int_matmul.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "intgraph/int_graph_check.h"
#include "intgraph/int_op_util.h"
#include "kernels/gemm_u8s8.h"
#include "kernels/kernel_path.h"
#include "kernels/reference/matmul.h"
#include "util/limits.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {

using intops::checked_count;
using intops::checked_product;
using intops::i32;
using intops::max_abs;
using intops::stats_for;
using kernels::KernelPath;
using kernels::PackedS8;
namespace ref = kernels::ref;

constexpr __int128 kInt32Limit = INT32_MAX;

struct Range {
  int32_t lo = 0, hi = 0;
  bool empty = true;
  // The values as 8-bit codes: uint8 a' = v − offset (offset = lo) or int8 b' = v − offset.
  bool fits_256() const { return empty || static_cast<int64_t>(hi) - lo <= 255; }
  int32_t uint8_offset() const { return empty ? 0 : lo; }
  int32_t int8_offset() const { return empty || (lo >= -128 && hi <= 127) ? 0 : lo + 128; }
  uint32_t max_magnitude() const { return empty ? 0 : std::max(kernels::magnitude(lo), kernels::magnitude(hi)); }
};

Range value_range(const int32_t* p, int64_t n) {
  if (n == 0) return {};
  int32_t lo = p[0], hi = p[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  return {lo, hi, false};
}

Range int8_range(const int8_t* p, int64_t n) {
  Range r;
  for (int64_t i = 0; i < n; ++i) r = {r.empty ? p[i] : std::min<int32_t>(r.lo, p[i]), r.empty ? p[i] : std::max<int32_t>(r.hi, p[i]), false};
  return r;
}

// A constant B packed once by the executor, for the kernel path active then.
struct PreparedB {
  PackedS8 packed;
  Range range;  // of B's values (int8: offset 0)
};

// The weight packed for the GEMM of the active path when its values are int8 (4-bit packing for
// [−8, 7]); null otherwise. B[r, c] at b[r·row_stride + c·col_stride].
std::shared_ptr<const void> pack_constant_b(const Tensor& b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n) {
  const KernelPath path = kernels::active_kernel_path();
  if (path == KernelPath::Ref || k == 0 || n == 0) return nullptr;
  std::vector<int8_t> b8(static_cast<size_t>(b.numel()));
  Range r;
  if (b.dtype() == DType::Int8) {
    std::memcpy(b8.data(), b.data<int8_t>(), b8.size());
    r = int8_range(b8.data(), b.numel());
  } else {
    r = value_range(b.data<int32_t>(), b.numel());
    if (r.lo < -128 || r.hi > 127) return nullptr;
    for (int64_t i = 0; i < b.numel(); ++i) b8[i] = static_cast<int8_t>(b.data<int32_t>()[i]);
  }
  auto prep = std::make_shared<PreparedB>();
  const int bits = r.lo >= -8 && r.hi <= 7 ? 4 : 8;
  prep->packed = kernels::pack_s8(b8.data(), row_stride, col_stride, k, n, path, bits);
  prep->range = r;
  return prep;
}

// C[m, n] = bias + A·B on the int8 GEMM. A: uint8 codes with offset a_off; B: packed int8 with
// offset b_off. False (nothing written) when the kernel's partial sums could leave int32.
bool gemm_with_offsets(const uint8_t* a8, int64_t m, int64_t k, int32_t a_off, const PackedS8& b, int32_t b_off,
                       const int32_t* bias, int32_t* y) {
  const int64_t n = b.n;
  const __int128 kk = k;
  __int128 max_col = 0;
  std::vector<int32_t> col(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const __int128 v = (bias ? bias[j] : 0) + static_cast<__int128>(a_off) * b.col_sums[j] + kk * a_off * b_off;
    if (v > kInt32Limit || -v > kInt32Limit) return false;
    max_col = std::max(max_col, v < 0 ? -v : v);
    col[j] = static_cast<int32_t>(v);
  }
  const __int128 row_bound = static_cast<__int128>(b_off < 0 ? -static_cast<int64_t>(b_off) : b_off) * 255 * kk;
  if (max_col + row_bound + kk * 255 * b.max_abs > kInt32Limit) return false;
  std::vector<int32_t> row;
  if (b_off != 0) {
    row.resize(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      int32_t s = 0;  // ≤ 255·k ≤ row_bound / |b_off|: fits
      for (int64_t t = 0; t < k; ++t) s += a8[i * k + t];
      row[i] = b_off * s;
    }
  }
  kernels::gemm_u8s8(a8, k, m, b, col.data(), row.empty() ? nullptr : row.data(), y, n);
  return true;
}


// The reference's partial sums stay in int32 (so its result is the exact sum, untruncated).
bool reference_exact(int64_t k, Range a, Range b, kernels::Checked32 bias_max) {
  return !bias_max.lost &&
         static_cast<__int128>(bias_max.value) + static_cast<__int128>(k) * a.max_magnitude() * b.max_magnitude() <= kInt32Limit;
}

// C[m,n] = bias + A[m,k]·B[k,n] in plain int32: the caller has proven no partial sum overflows.
void matmul_int32(const int32_t* a, const int32_t* b, const int32_t* bias, int32_t* c, int64_t m, int64_t k, int64_t n) {
  parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(k * n / 64, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      int32_t* ci = c + i * n;
      for (int64_t j = 0; j < n; ++j) ci[j] = bias ? bias[j] : 0;
      for (int64_t t = 0; t < k; ++t) {
        const int32_t av = a[i * k + t];
        if (av == 0) continue;
        const int32_t* bt = b + t * n;
        for (int64_t j = 0; j < n; ++j) ci[j] += av * bt[j];
      }
    }
  });
}

// One matrix operand as it arrives: int32 values, or uint8 codes (value = code + offset; the
// runtime's storage plan, int_storage.h) whose range is then [offset, offset + 255].
struct Operand {
  const int32_t* values = nullptr;
  const int8_t* narrow = nullptr;  // an int8 weight (runtime/int_model.cc keeps them at int8)
  const uint8_t* codes = nullptr;
  int32_t offset = 0;
  Range range;
};

// The operand's int32 values (codes widened into `scratch`, n elements).
const int32_t* values_of(const Operand& x, int64_t n, std::vector<int32_t>& scratch) {
  if (x.values) return x.values;
  scratch.resize(static_cast<size_t>(n));
  if (x.narrow) {
    for (int64_t i = 0; i < n; ++i) scratch[i] = x.narrow[i];
  } else {
    for (int64_t i = 0; i < n; ++i) scratch[i] = x.codes[i] + x.offset;
  }
  return scratch.data();
}

// One GEMM-shaped product y[rows, n] = bias + A[rows, k]·B[k, n]: B packed in `prepared`, or the
// operand `b` (row-major). A's and B's ranges cover the operands. Counts go to `stats` (or none).
void linear(const OpCall& c, const Operand& a, int64_t rows, int64_t k, const Operand& b, int64_t n,
            const PreparedB* prepared, const int32_t* bias, kernels::Checked32 bias_max, int32_t* y,
            kernels::TruncationStats* stats) {
  // The reference indexes its operands in int32.
  checked_product(c, rows, k);
  checked_product(c, k, n);
  const KernelPath path = kernels::active_kernel_path();
  const Range b_range = prepared ? prepared->range : b.range;
  std::vector<int32_t> a_wide, b_wide;
  if (path != KernelPath::Ref && reference_exact(k, a.range, b_range, bias_max)) {
    if (a.range.fits_256() && b_range.fits_256()) {
      // A as uint8 codes: as stored, or v − min(A).
      std::vector<uint8_t> a8;
      const uint8_t* a_codes = a.codes;
      const int32_t a_off = a.codes ? a.offset : a.range.uint8_offset();
      if (!a_codes) {
        a8.resize(static_cast<size_t>(rows * k));
        intops::to_uint8_codes(a.values, rows * k, a_off, a8.data());
        a_codes = a8.data();
      }
      bool done = false;
      if (prepared && prepared->packed.path == path) {
        done = gemm_with_offsets(a_codes, rows, k, a_off, prepared->packed, 0, bias, y);
      } else {
        // B as int8: codes − 128 (offset + 128), or v − b_off.
        std::vector<int8_t> b8(static_cast<size_t>(k * n));
        int8_t* dst = b8.data();
        const int64_t count = k * n;
        int32_t b_off = 0;
        if (b.codes) {
          b_off = b.offset + 128;
          const uint8_t* src = b.codes;
          for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<int8_t>(src[i] ^ 0x80);  // code − 128
        } else {
          const int32_t* bv = values_of(b, count, b_wide);
          b_off = b_range.int8_offset();
          const int32_t off = b_off;
          for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<int8_t>(bv[i] - off);
        }
        done = gemm_with_offsets(a_codes, rows, k, a_off, kernels::pack_s8(b8.data(), n, 1, k, n, path), b_off, bias, y);
      }
      if (done) {
        if (stats) stats->add(0, checked_product(c, rows, n));
        return;
      }
    }
    matmul_int32(values_of(a, rows * k, a_wide), values_of(b, k * n, b_wide), bias, y, rows, k, n);
    if (stats) stats->add(0, checked_product(c, rows, n));
    return;
  }
  ref::matmul(values_of(a, rows * k, a_wide), values_of(b, k * n, b_wide), bias, y, checked_count(c, rows),
              checked_count(c, k), checked_count(c, n), stats);
}

// Input i of a QMatMul as an operand: int32 (range scanned), int8 (a narrowed weight, widened),
// or uint8 codes at the offset the storage plan gave it (range known without a scan).
Operand operand(const OpCall& c, size_t i) {
  const Tensor& t = c.input(i);
  const auto* prep = static_cast<const IntNodePrep*>(c.prepared);
  Operand x;
  if (t.dtype() == DType::UInt8) {
    if (!prep || !prep->input_offset[i]) c.fail("input " + std::to_string(i) + " is uint8 codes without a storage plan");
    x.codes = t.data<uint8_t>();
    x.offset = *prep->input_offset[i];
    x.range = {x.offset, x.offset + 255, t.numel() == 0};
    return x;
  }
  if (t.dtype() == DType::Int8) {
    x.narrow = t.data<int8_t>();
    x.range = int8_range(x.narrow, t.numel());
    return x;
  }
  x.values = intops::i32(c, i);
  x.range = value_range(x.values, t.numel());
  return x;
}

Operand slice(const Operand& x, int64_t begin) {
  Operand s = x;
  if (s.values) s.values += begin;
  if (s.narrow) s.narrow += begin;
  if (s.codes) s.codes += begin;
  return s;
}

}  // namespace

void op_QMatMul(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  if (a.rank() < 2 || b.rank() < 2) c.fail("operands must have rank >= 2");
  const int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1);
  if (b.dim(-2) != k) c.fail("inner dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  const int64_t count = a.numel() / std::max<int64_t>(checked_product(c, m, k), 1);
  const bool b_shared = b.rank() == 2;
  if (!b_shared && b.numel() / std::max<int64_t>(checked_product(c, k, n), 1) != count) c.fail("batch shapes differ");
  const Tensor* bias = c.optional_input(2);
  if (bias && bias->numel() != n) c.fail("bias must have N elements");
  // The reference indexes its operands in int32.
  checked_product(c, m, n);
  Shape os = a.shape();
  os.back() = n;
  out[0] = Tensor(DType::Int32, os, Tensor::Uninitialized{});
  const auto* prep = static_cast<const IntNodePrep*>(c.prepared);
  const auto* packed = prep ? static_cast<const PreparedB*>(prep->weights.get()) : nullptr;
  const Operand pa = operand(c, 0);
  Operand pb;
  if (packed) {
    // A packed weight's values are read only when a fallback needs them: no range scan.
    if (b.dtype() == DType::Int8) pb.narrow = b.data<int8_t>();
    else pb.values = intops::i32(c, 1);
    pb.range = packed->range;
  } else {
    pb = operand(c, 1);
  }
  const int32_t* pbias = bias ? intops::i32(c, 2) : nullptr;
  const kernels::Checked32 bias_max = pbias ? max_abs(pbias, n) : kernels::Checked32{0, false};
  int32_t* py = out[0].data<int32_t>();
  if (b_shared) {
    checked_product(c, count, m);
    linear(c, pa, count * m, k, pb, n, packed, pbias, bias_max, py, stats_for(c));
    return;
  }
  // Batched products (attention: Q·Kᵀ, P·V per image and head): in parallel over the batch, each
  // product on one thread (nested parallel_for runs serially). Truncation counts per product are
  // summed into one counter afterwards, in order.
  std::vector<kernels::TruncationStats> per(static_cast<size_t>(count));
  const bool counting = stats_for(c) != nullptr;
  parallel_for(count, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      linear(c, slice(pa, i * m * k), m, k, slice(pb, i * k * n), n, nullptr, pbias, bias_max, py + i * m * n,
             counting ? &per[static_cast<size_t>(i)] : nullptr);
  });
  if (auto* s = stats_for(c))
    for (const auto& p : per) s->add(p);
}

void op_QConv(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  if (x.rank() != 4 || w.rank() != 4) c.fail("only 2-D convolutions are supported");
  if (c.node.attr_int("group", 1) != 1) c.fail("grouped convolution is not supported");
  const auto strides = c.node.attr_ints("strides", {1, 1}), pads = c.node.attr_ints("pads", {0, 0, 0, 0}),
             dil = c.node.attr_ints("dilations", {1, 1});
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t M = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  if (w.shape()[1] != C) c.fail("weight channels do not match the input");
  const Tensor* bias = c.optional_input(2);
  if (bias && bias->numel() != M) c.fail("bias must have one element per output channel (" + std::to_string(M) + ")");
  // strides/pads/dilations have 2/4/2 values in [1 or 0, 2^16] (check_int_node_attributes), so
  // these int64 sums and products cannot overflow.
  const int64_t OH = (H + pads[0] + pads[2] - (dil[0] * (KH - 1) + 1)) / strides[0] + 1;
  const int64_t OW = (W + pads[1] + pads[3] - (dil[1] * (KW - 1) + 1)) / strides[1] + 1;
  if (OH <= 0 || OW <= 0) c.fail("kernel larger than padded input");
  const std::string what = c.node.describe() + ": im2row";
  const int64_t P = checked_mul(OH, OW, what), kdim = checked_mul(checked_mul(C, KH, what), KW, what);
  // The im2row scratch is as untrusted as the output: capped before it is allocated.
  check_tensor_bytes(checked_mul(P, kdim, what), sizeof(int32_t), what + " patches");
  check_tensor_bytes(checked_mul(P, M, what), sizeof(int32_t), what + " products");
  out[0] = Tensor(DType::Int32, {N, M, OH, OW}, Tensor::Uninitialized{});
  const int32_t* px = i32(c, 0);
  std::vector<int32_t> w_wide;
  const int32_t* pw = intops::i32_values(c, 1, w_wide);
  // Rows of patches (im2row) so that y[P, M] = patches[P, kdim] · Wᵀ, then transposed to NCHW.
  std::vector<int32_t> patches(static_cast<size_t>(P * kdim)), wt(static_cast<size_t>(kdim * M)),
      y(static_cast<size_t>(P * M));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t r = 0; r < kdim; ++r) wt[r * M + m] = pw[m * kdim + r];
  const auto* prep = static_cast<const IntNodePrep*>(c.prepared);
  const auto* packed = prep ? static_cast<const PreparedB*>(prep->weights.get()) : nullptr;
  Operand wt_operand;
  wt_operand.values = wt.data();
  wt_operand.range = packed ? packed->range : value_range(wt.data(), kdim * M);
  const kernels::Checked32 bias_max = bias ? max_abs(i32(c, 2), M) : kernels::Checked32{0, false};
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t ih = oh * strides[0] - pads[0] + kh * dil[0], iw = ow * strides[1] - pads[1] + kw * dil[1];
              patches[(oh * OW + ow) * kdim + (ci * KH + kh) * KW + kw] =
                  (ih >= 0 && ih < H && iw >= 0 && iw < W) ? px[((n * C + ci) * H + ih) * W + iw] : 0;
            }
    Operand a;
    a.values = patches.data();
    a.range = value_range(patches.data(), P * kdim);
    linear(c, a, P, kdim, wt_operand, M, packed, bias ? i32(c, 2) : nullptr, bias_max, y.data(), stats_for(c));
    int32_t* py = out[0].data<int32_t>() + n * M * P;
    for (int64_t p = 0; p < P; ++p)
      for (int64_t m = 0; m < M; ++m) py[m * P + p] = y[p * M + m];
  }
}

std::shared_ptr<const void> pack_linear_weights(const Graph& g, const Node& node) {
  if (node.inputs.size() < 2 || !g.is_constant(node.inputs[1])) return nullptr;
  const Tensor& b = g.constant(node.inputs[1]);
  if (b.dtype() != DType::Int32 && b.dtype() != DType::Int8) return nullptr;
  if (node.op == "QMatMul" && b.rank() == 2) return pack_constant_b(b, b.shape()[1], 1, b.shape()[0], b.shape()[1]);
  if (node.op == "QConv" && b.rank() == 4 && node.attr_int("group", 1) == 1) {
    // Wᵀ[kdim, M]: B[r, m] = W[m, r].
    const int64_t kdim = b.shape()[1] * b.shape()[2] * b.shape()[3];
    return pack_constant_b(b, 1, kdim, kdim, b.shape()[0]);
  }
  return nullptr;
}

std::shared_ptr<const void> prepare_int_node(const Graph& g, const Node& node, const CodeStorage& plan) {
  auto prep = std::make_shared<IntNodePrep>();
  bool any = false;
  if (node.outputs.size() == 1 && static_cast<size_t>(node.outputs[0]) < plan.size() && plan[node.outputs[0]] &&
      node.op != "QMatMul" && is_int_compute_op(node.op)) {
    prep->output_offset = plan[node.outputs[0]];
    any = true;
  }
  if (node.op == "QMatMul")
    for (size_t i = 0; i < 2 && i < node.inputs.size(); ++i)
      if (node.inputs[i] >= 0 && static_cast<size_t>(node.inputs[i]) < plan.size() && plan[node.inputs[i]]) {
        prep->input_offset[i] = plan[node.inputs[i]];
        any = true;
      }
  prep->weights = pack_linear_weights(g, node);
  any = any || prep->weights;
  return any ? prep : nullptr;
}

Executor::PrepareFn int_node_preparer(CodeStorage plan) {
  return [plan = std::move(plan)](const Graph& g, const Node& n) { return prepare_int_node(g, n, plan); };
}

bool narrow_linear_weights(Graph& g) {
  bool any = false;
  for (int v : linear_weight_constants(g)) {
    const Tensor& t = g.constant(v);
    if (t.dtype() != DType::Int32) continue;
    const Range r = value_range(t.data<int32_t>(), t.numel());
    if (r.empty || r.lo < -128 || r.hi > 127) continue;
    Tensor narrow(DType::Int8, t.shape(), Tensor::Uninitialized{});
    for (int64_t i = 0; i < t.numel(); ++i) narrow.data<int8_t>()[i] = static_cast<int8_t>(t.data<int32_t>()[i]);
    g.values[v].constant = std::move(narrow);
    g.values[v].dtype = DType::Int8;
    any = true;
  }
  return any;
}

}  // namespace qvit
