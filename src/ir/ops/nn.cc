// Neural-network ops: MatMul, Gemm, the fused Linear, Softmax, LayerNorm/LayerNormalization,
// Gelu, GlobalAveragePool (Conv is in conv.cc). Float32 only (what ViTs run in); every operand's
// type, rank and size is checked before a kernel reads it. An empty output returns before any
// size arithmetic, since an empty operand may declare dims whose products overflow.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/matmul_fold.h"
#include "ir/op_registry.h"
#include "ir/ops/fast_math.h"
#include "ir/ops/gemm.h"
#include "ir/ops/packed_gemm.h"
#include "util/thread_pool.h"

namespace qvit {
namespace {

// Copy of `x` broadcast to batch shape `batch` + x's last two dims.
Tensor expand_batch(const Tensor& x, const Shape& batch) {
  Shape target = batch;
  target.push_back(x.shape()[x.rank() - 2]);
  target.push_back(x.shape()[x.rank() - 1]);
  if (target == x.shape()) return x;
  Tensor y(DType::Float32, target);
  if (y.numel() == 0) return y;
  const int r = static_cast<int>(target.size());
  auto st = strides_of(x.shape());
  std::vector<int64_t> bst(r, 0);
  const int off = r - x.rank();
  for (int a = 0; a < x.rank(); ++a) bst[off + a] = x.shape()[a] == 1 ? 0 : st[a];
  const int64_t mat = target[r - 2] * target[r - 1];
  const int64_t count = y.numel() / std::max<int64_t>(mat, 1);
  for (int64_t i = 0; i < count; ++i) {
    int64_t rem = i, src = 0;
    for (int a = r - 3; a >= 0; --a) {
      src += (rem % target[a]) * bst[a];
      rem /= target[a];
    }
    std::memcpy(y.data<float>() + i * mat, x.data<float>() + src, static_cast<size_t>(mat) * sizeof(float));
  }
  return y;
}

// MatMul planned by plan_matmul_folding: operands and output are strided views (see matmul_fold.h).
void matmul_folded(const OpCall& c, const FoldedMatMul& f, std::vector<Tensor>& out) {
  const float* pa = c.input(0).data<float>();
  const float* pb = c.input(1).data<float>();
  const int r = static_cast<int>(f.a.shape.size());
  const int64_t m = f.a.shape[r - 2], k = f.a.shape[r - 1], n = f.b.shape[r - 1];
  Tensor y(DType::Float32, f.y_shape, Tensor::Uninitialized{});
  float* py = y.data<float>();
  const Shape batch(f.a.shape.begin(), f.a.shape.end() - 2);
  parallel_for(shape_numel(batch), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t oa = f.a.offset, ob = f.b.offset, oy = f.y.offset, rem = i;
      for (int d = r - 3; d >= 0; --d) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        oa += idx * f.a.strides[d];
        ob += idx * f.b.strides[d];
        oy += idx * f.y.strides[d];
      }
      sgemm_packed(m, n, k, f.alpha, pa + oa, f.a.strides[r - 2], pb + ob, f.b.strides[r - 2], f.b.strides[r - 1], py + oy,
                   f.y.strides[r - 2]);
    }
  });
  out[0] = std::move(y);
}

void op_MatMul(const OpCall& c, std::vector<Tensor>& out) {
  if (const auto* folded = static_cast<const FoldedMatMul*>(c.prepared)) {
    matmul_folded(c, *folded, out);
    return;
  }
  require_f32(c, c.input(0), "A");
  require_f32(c, c.input(1), "B");
  if (c.input(0).rank() == 0 || c.input(1).rank() == 0) c.fail("inputs must have rank >= 1 (MatMul does not take scalars)");
  const bool a_vec = c.input(0).rank() == 1, b_vec = c.input(1).rank() == 1;
  // 1-D operands are promoted to matrices (copies, but only of vectors).
  Tensor a_mat, b_mat;
  if (a_vec) a_mat = c.input(0).reshaped({1, c.input(0).shape()[0]});
  if (b_vec) b_mat = c.input(1).reshaped({c.input(1).shape()[0], 1});
  const Tensor& a = a_vec ? a_mat : c.input(0);
  const Tensor& b = b_vec ? b_mat : c.input(1);
  const int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1);
  if (b.dim(-2) != k) c.fail("inner dimensions differ: " + shape_str(c.input(0).shape()) + " x " + shape_str(c.input(1).shape()));
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(c, ab, bb);
  const int64_t count = shape_numel(batch);
  // A weight-like B shared by every batch entry is one big GEMM over all rows of A.
  const bool b_shared = shape_numel(bb) == 1;
  Shape os = batch;
  os.push_back(m);
  os.push_back(n);
  Tensor y(DType::Float32, os, Tensor::Uninitialized{});
  Shape final_shape(batch);
  if (!a_vec) final_shape.push_back(m);
  if (!b_vec) final_shape.push_back(n);
  if (y.numel() == 0) {
    out[0] = std::move(y).reshaped(final_shape);
    return;
  }
  if (b_shared && shape_numel(ab) == count) {
    sgemm(false, false, count * m, n, k, a.data<float>(), k, b.data<float>(), n, y.data<float>(), n);
  } else {
    // Operands already of the full batch shape are used in place; broadcast ones are expanded.
    auto full = [&](const Tensor& t) { return shape_numel(Shape(t.shape().begin(), t.shape().end() - 2)) == count; };
    Tensor ea, eb;
    if (!full(a)) ea = expand_batch(a, batch);
    if (!b_shared && !full(b)) eb = expand_batch(b, batch);
    const float* pa = full(a) ? a.data<float>() : ea.data<float>();
    const float* pb = (b_shared || full(b)) ? b.data<float>() : eb.data<float>();
    sgemm_batched(count, false, false, m, n, k, pa, k, m * k, pb, n, b_shared ? 0 : k * n, y.data<float>(), n, m * n);
  }
  out[0] = std::move(y).reshaped(final_shape);
}

void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t n) {
  parallel_for(rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += bias[j];
  });
}

// IR op Linear: y[..., N] = x[..., K] · W[K, N] + b[N]. Formed by the importer from MatMul(+Add)
// and Gemm with a constant weight, so calibration and lowering see one node per linear layer.
void op_Linear(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const Tensor* b = c.optional_input(2);
  require_f32(c, x, "X");
  require_f32(c, w, "W");
  if (w.rank() != 2) c.fail("weight must be 2-D, got " + shape_str(w.shape()));
  const int64_t k = w.shape()[0], n = w.shape()[1];
  if (x.rank() < 1 || x.dim(-1) != k) c.fail("input " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()));
  if (b) {
    require_f32(c, *b, "bias");
    if (b->numel() != n) c.fail("bias " + shape_str(b->shape()) + " does not have " + std::to_string(n) + " elements");
  }
  Shape os = x.shape();
  os.back() = n;
  out[0] = Tensor(DType::Float32, os, Tensor::Uninitialized{});
  if (out[0].numel() == 0) return;
  // Rows from the leading dims (x.numel() / k is wrong for k = 0, where the output still has rows).
  const int64_t rows = out[0].numel() / n;
  if (k == 0) {
    // An empty inner dimension: y = b (or 0), without asking the GEMMs about k = 0.
    float* y = out[0].data<float>();
    std::fill_n(y, out[0].numel(), 0.0f);
    if (b) add_bias_rows(y, b->data<float>(), rows, n);
    return;
  }
  if (const auto* packed = static_cast<const PackedWeights*>(c.prepared)) {
    packed_gemm(x.data<float>(), rows, *packed, b ? b->data<float>() : nullptr, out[0].data<float>());
    return;
  }
  sgemm(false, false, rows, n, k, x.data<float>(), k, w.data<float>(), n, out[0].data<float>(), n);
  if (b) add_bias_rows(out[0].data<float>(), b->data<float>(), rows, n);
}

void op_Gemm(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  require_f32(c, a, "A");
  require_f32(c, b, "B");
  if (a.rank() != 2 || b.rank() != 2) c.fail("A and B must be 2-D, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  const bool ta = c.node.attr_int("transA", 0) != 0, tb = c.node.attr_int("transB", 0) != 0;
  const float alpha = c.node.attr_float("alpha", 1.0f), beta = c.node.attr_float("beta", 1.0f);
  const int64_t m = ta ? a.shape()[1] : a.shape()[0], k = ta ? a.shape()[0] : a.shape()[1];
  const int64_t n = tb ? b.shape()[0] : b.shape()[1], kb = tb ? b.shape()[1] : b.shape()[0];
  if (k != kb) c.fail("inner dimensions differ");
  out[0] = Tensor(DType::Float32, {m, n});
  const Tensor* cc = c.optional_input(2);
  if (cc) require_f32(c, *cc, "C");
  if (out[0].numel() == 0) return;
  float* y = out[0].data<float>();
  sgemm(ta, tb, m, n, k, a.data<float>(), a.shape()[1], b.data<float>(), b.shape()[1], y, n);
  if (alpha != 1.0f)
    for (auto& v : out[0].values<float>()) v *= alpha;
  if (cc && beta != 0.0f) {
    Shape cs = broadcast_shapes(c, cc->shape(), {m, n});
    if (cs != Shape{m, n}) c.fail("C does not broadcast to [M,N]");
    auto st = strides_of(cc->shape());
    const int64_t si = cc->rank() == 2 && cc->shape()[0] != 1 ? st[0] : 0;
    const int64_t sj = cc->rank() >= 1 && cc->shape().back() != 1 ? 1 : 0;
    const float* pc = cc->data<float>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += beta * pc[i * si + j * sj];
  }
}

// Softmax over `rows` contiguous rows of length `len`, from `src` into `x` (which may be `src`).
void softmax_rows(const float* src, float* x, int64_t rows, int64_t len, bool log) {
  parallel_for(rows, std::max<int64_t>(1, (1 << 13) / std::max<int64_t>(len, 1)), [&](int64_t r_begin, int64_t r_end) {
  for (int64_t r = r_begin; r < r_end; ++r) {
    float* p = x + r * len;
    if (!log) {
      softmax_row_f32(src + r * len, p, len);
      continue;
    }
    if (p != src + r * len) std::copy_n(src + r * len, len, p);
    float mx = -INFINITY;
    for (int64_t i = 0; i < len; ++i) mx = std::max(mx, p[i]);
    double s = 0;
    for (int64_t i = 0; i < len; ++i) s += std::exp(static_cast<double>(p[i] - mx));
    const float ls = static_cast<float>(std::log(s));
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] - mx - ls;
  }
  });
}

template <bool Log>
void softmax_op(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  require_f32(c, x, "input");
  const int r = x.rank();
  require_rank(c, x, 1, "input");
  const int axis = normalize_axis(c, c.node.attr_int("axis", c.opset < 13 ? 1 : -1), r);
  if (x.numel() == 0) {
    out[0] = x;
    return;
  }
  if (c.opset < 13 || axis == r - 1) {
    // Before opset 13 the input is coerced to 2-D at `axis`: the row is everything from axis on.
    int64_t len = 1;
    for (int a = axis; a < r; ++a) len *= x.shape()[a];
    out[0] = Tensor(DType::Float32, x.shape(), Tensor::Uninitialized{});
    softmax_rows(x.data<float>(), out[0].data<float>(), x.numel() / len, len, Log);
    return;
  }
  out[0] = x;
  // Softmax along an inner axis: gather each strided column into a row, normalize, scatter back.
  int64_t outer = 1, inner = 1;
  const int64_t dim = x.shape()[axis];
  for (int a = 0; a < axis; ++a) outer *= x.shape()[a];
  for (int a = axis + 1; a < r; ++a) inner *= x.shape()[a];
  std::vector<float> row(static_cast<size_t>(dim));
  float* p = out[0].data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t k = 0; k < dim; ++k) row[k] = p[(o * dim + k) * inner + i];
      softmax_rows(row.data(), row.data(), 1, dim, Log);
      for (int64_t k = 0; k < dim; ++k) p[(o * dim + k) * inner + i] = row[k];
    }
}

// LayerNormalization (opset 17) and the importer's fused LayerNorm: normalize over axes [axis, r),
// then scale and shift.
void op_LayerNorm(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& gamma = c.input(1);
  const Tensor* beta = c.optional_input(2);
  require_f32(c, x, "X");
  require_f32(c, gamma, "scale");
  if (beta) require_f32(c, *beta, "bias");
  const int r = x.rank();
  require_rank(c, x, 1, "X");
  const int axis = normalize_axis(c, c.node.attr_int("axis", -1), r);
  const float eps = c.node.attr_float("epsilon", 1e-5f);
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(static_cast<size_t>(r), 1);
  const bool want_stats = out.size() > 1;
  Tensor mean_t, inv_t;
  if (want_stats) {
    mean_t = Tensor(DType::Float32, stat_shape);
    inv_t = Tensor(DType::Float32, stat_shape);
  }
  if (x.numel() == 0) {
    // (Before the row length: an empty input's trailing dims may be huge.)
    out[0] = x;
    if (want_stats) {
      out[1] = std::move(mean_t);
      if (out.size() > 2) out[2] = std::move(inv_t);
    }
    return;
  }
  int64_t len = 1;
  for (int a = axis; a < r; ++a) len *= x.shape()[a];
  if (gamma.numel() != len && gamma.numel() != 1) c.fail("scale has " + std::to_string(gamma.numel()) + " elements, expected " + std::to_string(len));
  if (beta && beta->numel() != len && beta->numel() != 1) c.fail("bias size does not match the normalized shape");
  const int64_t rows = x.numel() / len;
  out[0] = Tensor(DType::Float32, x.shape(), Tensor::Uninitialized{});
  // Scale and bias broadcast to full rows once, so the row kernel is one vectorized loop.
  std::vector<float> g_row(static_cast<size_t>(len)), b_row(static_cast<size_t>(len), 0.0f);
  for (int64_t k = 0; k < len; ++k) {
    g_row[k] = gamma.data<float>()[gamma.numel() == 1 ? 0 : k];
    if (beta) b_row[k] = beta->data<float>()[beta->numel() == 1 ? 0 : k];
  }
  const float* px = x.data<float>();
  float* py = out[0].data<float>();
  parallel_for(rows, std::max<int64_t>(1, (1 << 13) / std::max<int64_t>(len, 1)), [&](int64_t r_begin, int64_t r_end) {
    for (int64_t i = r_begin; i < r_end; ++i) {
      float mean = 0, inv = 0;
      layernorm_row_f32(px + i * len, py + i * len, len, g_row.data(), b_row.data(), eps, &mean, &inv);
      if (want_stats) {
        mean_t.data<float>()[i] = mean;
        inv_t.data<float>()[i] = inv;
      }
    }
  });
  if (want_stats) {
    out[1] = std::move(mean_t);
    if (out.size() > 2) out[2] = std::move(inv_t);
  }
}

void op_Gelu(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  require_f32(c, x, "input");
  out[0] = Tensor(DType::Float32, x.shape(), Tensor::Uninitialized{});
  const float* px = x.data<float>();
  float* py = out[0].data<float>();
  const int64_t n = x.numel();
  if (c.node.attr_string("approximate", "none") == "tanh") {
    for (int64_t i = 0; i < n; ++i) {
      const float v = px[i];
      py[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
    }
    return;
  }
  const int64_t chunk = 4096;
  parallel_for((n + chunk - 1) / chunk, 4, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) gelu_f32(px + k * chunk, py + k * chunk, std::min(chunk, n - k * chunk));
  });
}

void op_GlobalAveragePool(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  require_f32(c, x, "input");
  if (x.rank() < 3) c.fail("input must have rank >= 3");
  Shape s = x.shape();
  for (int a = 2; a < x.rank(); ++a) s[a] = 1;
  out[0] = Tensor(DType::Float32, s);
  if (out[0].numel() == 0) return;
  const int64_t nc = s[0] * s[1];
  // The mean of an empty plane is NaN (0/0), written explicitly; plane fits when x holds data.
  const int64_t plane = x.numel() == 0 ? 0 : x.numel() / nc;
  if (plane == 0) {
    std::fill_n(out[0].data<float>(), nc, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  for (int64_t i = 0; i < nc; ++i) {
    double acc = 0;
    for (int64_t k = 0; k < plane; ++k) acc += x.data<float>()[i * plane + k];
    out[0].data<float>()[i] = static_cast<float>(acc / static_cast<double>(plane));
  }
}

}  // namespace

void register_nn_ops(OpTable& t) {
  t.insert(t.end(), {
      {"MatMul", op_MatMul}, {"Linear", op_Linear}, {"Gemm", op_Gemm},
      {"Softmax", softmax_op<false>}, {"LogSoftmax", softmax_op<true>}, {"LayerNormalization", op_LayerNorm},
      {"LayerNorm", op_LayerNorm}, {"Gelu", op_Gelu}, {"GlobalAveragePool", op_GlobalAveragePool},
  });
}

}  // namespace qvit
