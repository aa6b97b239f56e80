// Conv (float32, 1-D [N, C, L] and 2-D [N, C, H, W]) as im2col + GEMM. A 1-D convolution runs as
// a 2-D one of height 1. The attributes are validated by window_geometry (window.h); the
// weight, group and bias against the input here. The im2col buffer is built for a block of
// output positions at a time, so its size stays bounded however large the output is.
#include <algorithm>

#include "ir/op_registry.h"
#include "ir/ops/gemm.h"
#include "ir/ops/window.h"
#include "util/thread_pool.h"

namespace qvit {
namespace {

// Floats of im2col scratch per block (16 MiB): large enough that the GEMM sees wide blocks.
constexpr int64_t kColBudget = int64_t{4} << 20;

void op_Conv(const OpCall& c, std::vector<Tensor>& out) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const Tensor* bias = c.optional_input(2);
  require_f32(c, x, "X");
  require_f32(c, w, "W");
  const int spatial = x.rank() - 2;
  if (spatial != 1 && spatial != 2)
    c.fail("only 1-D ([N, C, L]) and 2-D ([N, C, H, W]) convolutions are supported, got input " + shape_str(x.shape()));
  if (w.rank() != x.rank()) c.fail("weight " + shape_str(w.shape()) + " does not have the input's rank " + std::to_string(x.rank()));
  const int64_t group = c.node.attr_int("group", 1);
  const int64_t N = x.shape()[0], C = x.shape()[1], M = w.shape()[0], Cg = w.shape()[1];
  if (group < 1) c.fail("attribute 'group' is " + std::to_string(group) + ", must be >= 1");
  if (C % group != 0 || M % group != 0)
    c.fail("attribute 'group' " + std::to_string(group) + " does not divide the input channels " + std::to_string(C) +
           " and output channels " + std::to_string(M));
  if (Cg != C / group)
    c.fail("weight " + shape_str(w.shape()) + " has " + std::to_string(Cg) + " input channels per group, expected " +
           std::to_string(C / group) + " (input channels " + std::to_string(C) + " / group " + std::to_string(group) + ")");
  if (bias) {
    require_f32(c, *bias, "B");
    if (bias->rank() != 1 || bias->numel() != M)
      c.fail("bias " + shape_str(bias->shape()) + " must be 1-D with one entry per output channel (" + std::to_string(M) + ")");
  }
  WindowOptions options;
  options.weight_kernel.assign(w.shape().begin() + 2, w.shape().end());
  const WindowGeometry g = window_geometry(c, x.shape(), options);
  Shape ys = {N, M};
  ys.insert(ys.end(), g.out.begin(), g.out.end());
  Tensor y(DType::Float32, ys, Tensor::Uninitialized{});
  if (y.numel() == 0) {
    out[0] = std::move(y);
    return;
  }
  // (Named copies, not a structured binding: clang 14 cannot capture those in lambdas.)
  const Window2d w2 = window_2d(g);
  const int64_t H = w2.H, W = w2.W, KH = w2.KH, KW = w2.KW, SH = w2.SH, SW = w2.SW, DH = w2.DH, DW = w2.DW;
  const int64_t PH = w2.PH, PW = w2.PW, OH = w2.OH, OW = w2.OW;
  // y is non-empty, so N, M, OH, OW ≥ 1; the weight holds M·kdim floats, so kdim fits.
  const int64_t Mg = M / group, kdim = Cg * KH * KW, P = OH * OW;
  const int64_t block = std::clamp<int64_t>(kColBudget / std::max<int64_t>(kdim, 1), 1, P);
  std::vector<float> col(static_cast<size_t>(kdim * block));
  const float* px = x.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi)
      for (int64_t p0 = 0; p0 < P; p0 += block) {
        const int64_t pc = std::min(block, P - p0);
        // im2col: row (c, kh, kw), column = output position p0 + j.
        parallel_for(kdim, std::max<int64_t>(1, (1 << 14) / pc), [&](int64_t r_begin, int64_t r_end) {
          for (int64_t r = r_begin; r < r_end; ++r) {
            const int64_t ci = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
            const float* plane = px + ((n * C) + gi * Cg + ci) * H * W;
            float* dst = col.data() + r * pc;
            int64_t oh = p0 / OW, ow = p0 % OW;
            for (int64_t j = 0; j < pc; ++j) {
              const int64_t ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
              dst[j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? plane[ih * W + iw] : 0.0f;
              if (++ow == OW) ow = 0, ++oh;
            }
          }
        });
        float* dst = y.data<float>() + (n * M + gi * Mg) * P + p0;
        sgemm(false, false, Mg, pc, kdim, w.data<float>() + gi * Mg * kdim, kdim, col.data(), pc, dst, P);
      }
  if (bias) {
    const float* pb = bias->data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) {
        float* p = y.data<float>() + (n * M + m) * P;
        for (int64_t i = 0; i < P; ++i) p[i] += pb[m];
      }
  }
  out[0] = std::move(y);
}

}  // namespace

void register_conv_ops(OpTable& t) { t.insert(t.end(), {{"Conv", op_Conv}}); }

}  // namespace qvit
