// Gradients of the linear ops with respect to their activation inputs: Linear, MatMul (batched,
// broadcast, 1-D operands) and Conv (1-D/2-D, groups, strides, pads, dilations). Weight gradients
// are not formed: calibration only asks how the output depends on activations.
#include <algorithm>

#include "grad/rule_util.h"
#include "ir/ops/gemm.h"
#include "ir/ops/window.h"

namespace qvit {
namespace {

// dx[..., K] = dy[..., N] · Wᵀ for y = x·W + b, W [K, N].
void vjp_Linear(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor& w = c.input(1);
  const Tensor dy = c.cotangent(0);
  const int64_t k = w.shape()[0], n = w.shape()[1];
  Shape xs = dy.shape();
  xs.back() = k;
  Tensor dx(DType::Float32, xs);
  const int64_t rows = n > 0 ? dy.numel() / n : 0;
  if (rows > 0 && k > 0) sgemm(false, true, rows, k, n, dy.data<float>(), n, w.data<float>(), n, dx.data<float>(), k);
  in_cot[0] = std::move(dx);
}

// Batch index of an operand for output batch entry b (operands broadcast over batch axes).
std::vector<int64_t> batch_map(const Shape& operand_batch, const Shape& batch) {
  const int64_t count = shape_numel(batch);
  std::vector<int64_t> map(static_cast<size_t>(count), 0);
  const auto st = strides_of(operand_batch);
  const size_t off = batch.size() - operand_batch.size();
  for (int64_t b = 0; b < count; ++b) {
    int64_t r = b, idx = 0;
    for (size_t a = batch.size(); a-- > 0;) {
      const int64_t i = r % batch[a];
      r /= batch[a];
      if (a >= off && operand_batch[a - off] != 1) idx += i * st[a - off];
    }
    map[static_cast<size_t>(b)] = idx;
  }
  return map;
}

// MatMul: dA = dY·Bᵀ, dB = Aᵀ·dY per batch entry, summed over the axes an operand was broadcast on.
void vjp_MatMul(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  const Tensor& a0 = c.input(0);
  const Tensor& b0 = c.input(1);
  const bool a_vec = a0.rank() == 1, b_vec = b0.rank() == 1;
  const Tensor a = a_vec ? a0.reshaped({1, a0.shape()[0]}) : a0;
  const Tensor b = b_vec ? b0.reshaped({b0.shape()[0], 1}) : b0;
  const int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1);
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const OpCall oc = attribute_call(c);
  const Shape batch = broadcast_shapes(oc, ab, bb);
  const int64_t count = shape_numel(batch);
  Tensor dy = c.cotangent(0);
  Shape full = batch;
  full.push_back(m);
  full.push_back(n);
  dy = std::move(dy).reshaped(full);
  const auto amap = batch_map(ab, batch), bmap = batch_map(bb, batch);
  // Without broadcasting every batch entry writes its own gradient: one batched call (which runs
  // attention's many small GEMMs side by side, one thread each). A broadcast operand sums entries.
  auto identity = [&](const std::vector<int64_t>& map, const Shape& own) {
    return shape_numel(own) == count && std::is_sorted(map.begin(), map.end()) &&
           (count == 0 || map.back() == count - 1);
  };
  if (c.wants[0]) {
    Tensor da(DType::Float32, a.shape());
    if (identity(amap, ab) && identity(bmap, bb)) {
      sgemm_batched(count, false, true, m, k, n, dy.data<float>(), n, m * n, b.data<float>(), n, k * n, da.data<float>(), k, m * k);
    } else {
      for (int64_t i = 0; i < count; ++i)
        sgemm(false, true, m, k, n, dy.data<float>() + i * m * n, n, b.data<float>() + bmap[i] * k * n, n,
              da.data<float>() + amap[i] * m * k, k, true);
    }
    in_cot[0] = std::move(da).reshaped(a0.shape());
  }
  if (c.wants[1]) {
    Tensor db(DType::Float32, b.shape());
    if (identity(amap, ab) && identity(bmap, bb)) {
      sgemm_batched(count, true, false, k, n, m, a.data<float>(), k, m * k, dy.data<float>(), n, m * n, db.data<float>(), n, k * n);
    } else {
      for (int64_t i = 0; i < count; ++i)
        sgemm(true, false, k, n, m, a.data<float>() + amap[i] * m * k, k, dy.data<float>() + i * m * n, n,
              db.data<float>() + bmap[i] * k * n, n, true);
    }
    in_cot[1] = std::move(db).reshaped(b0.shape());
  }
}

// Conv: dx = col2im(Wᵀ · dy) per image and group.
void vjp_Conv(const BackwardCall& c, std::vector<Tensor>& in_cot) {
  if (!c.wants[0]) return;
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const OpCall oc = attribute_call(c);
  WindowOptions options;
  options.weight_kernel.assign(w.shape().begin() + 2, w.shape().end());
  const WindowGeometry g = window_geometry(oc, x.shape(), options);
  const int64_t group = c.node.attr_int("group", 1);
  const int64_t N = x.shape()[0], C = x.shape()[1], M = w.shape()[0], Cg = w.shape()[1];
  // (Named copies, not a structured binding: clang 14 cannot capture those in lambdas.)
  const Window2d w2 = window_2d(g);
  const int64_t H = w2.H, W = w2.W, KH = w2.KH, KW = w2.KW, SH = w2.SH, SW = w2.SW, DH = w2.DH, DW = w2.DW;
  const int64_t PH = w2.PH, PW = w2.PW, OH = w2.OH, OW = w2.OW;
  const int64_t Mg = M / group, kdim = Cg * KH * KW, P = OH * OW;
  const Tensor dy = c.cotangent(0);
  Tensor dx(DType::Float32, x.shape());
  std::vector<float> col(static_cast<size_t>(kdim * P));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      // col[kdim, P] = W_gᵀ [kdim, Mg] · dy_g [Mg, P]
      sgemm(true, false, kdim, P, Mg, w.data<float>() + gi * Mg * kdim, kdim, dy.data<float>() + (n * M + gi * Mg) * P, P,
            col.data(), P);
      for (int64_t r = 0; r < kdim; ++r) {
        const int64_t ci = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        float* plane = dx.data<float>() + ((n * C) + gi * Cg + ci) * H * W;
        const float* src = col.data() + r * P;
        for (int64_t p = 0; p < P; ++p) {
          const int64_t oh = p / OW, ow = p % OW;
          const int64_t ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
          if (ih >= 0 && ih < H && iw >= 0 && iw < W) plane[ih * W + iw] += src[p];
        }
      }
    }
  in_cot[0] = std::move(dx);
}

}  // namespace

void register_vjp_linear(RuleTable& t) {
  t.insert(t.end(), {{"Linear", {vjp_Linear, false, false}},
                     {"MatMul", {vjp_MatMul, true, false}},
                     {"Conv", {vjp_Conv, true, false}}});
}

}  // namespace qvit
