#include "kernels/kernel_bounds.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_params.h"

namespace qvit::kernels {
namespace {

constexpr double kInt32MaxD = 2147483647.0;

// Keeps the largest stage seen.
struct Tracker {
  KernelBound b;
  void see(double magnitude, const char* stage) {
    if (magnitude > b.worst_abs) b = KernelBound{magnitude, stage};
  }
};

double pow2(int32_t e) { return std::ldexp(1.0, e); }

// The largest shift-exp value: |I0| 2^n (the input 0), and the steps before it for |I| <= centered.
void see_shift_exp(Tracker& t, const ref::ShiftExpParams& e, double centered) {
  t.see(centered * 1.5, "shift-exp: I + (I>>1)");
  t.see(static_cast<double>(-e.i0) * pow2(e.n), "shift-exp: E = ((r>>1) - I0) << (n - q)");
}

double iexp_max(const ref::IExpParams& e) { return static_cast<double>(e.b) * e.b + e.c; }

void see_iexp(Tracker& t, const ref::IExpParams& e, double centered) {
  t.see(centered, "i-exp: x - max");
  t.see(static_cast<double>(e.z_max) * e.ln2, "i-exp: z_max * ln2");
  t.see(static_cast<double>(e.b) * e.b, "i-exp: (p + b)^2");
  t.see(iexp_max(e), "i-exp: (p + b)^2 + c");
}

}  // namespace

bool fits_int32(double magnitude) { return magnitude <= kInt32MaxD; }

KernelBound matmul_bound(int32_t k, int32_t a_bound, int32_t b_bound, int32_t bias_bound) {
  Tracker t;
  t.see(static_cast<double>(a_bound) * b_bound, "matmul: a * b");
  t.see(static_cast<double>(bias_bound) + static_cast<double>(k) * a_bound * b_bound, "matmul: accumulator");
  return t.b;
}

KernelBound requant_bound(const Requant& rq, int32_t input_bound) {
  const double shifted = std::round(std::ldexp(static_cast<double>(input_bound), -rq.pre_shift));
  return KernelBound{shifted * std::fabs(static_cast<double>(rq.m0)), "requant: (x >> pre) * m0"};
}

KernelBound add_bound(const ref::AddParams& p, int32_t a_bound, int32_t b_bound) {
  Tracker t;
  const KernelBound ra = requant_bound(p.a, a_bound), rb = requant_bound(p.b, b_bound);
  t.see(ra.worst_abs, "add: requant(a)");
  t.see(rb.worst_abs, "add: requant(b)");
  const double ya = std::ldexp(ra.worst_abs, -p.a.post_shift) + 1.0;
  const double yb = std::ldexp(rb.worst_abs, -p.b.post_shift) + 1.0;
  t.see(ya + yb, "add: sum");
  return t.b;
}

KernelBound shiftmax_bound(const ref::ShiftmaxParams& p, int32_t cols, int32_t input_bound) {
  Tracker t;
  const double centered = 2.0 * input_bound;
  t.see(centered, "shiftmax: x - max");
  see_shift_exp(t, p.exp, centered);
  const int32_t s = ref::shift_exp_sum_shift(p.exp, cols);
  t.see(std::floor(static_cast<double>(-p.exp.i0) * pow2(p.exp.n - s)) * cols, "shiftmax: sum of E >> s");
  t.see(kInt32MaxD, "shiftmax: E' * F <= sum * F");
  return t.b;
}

KernelBound shiftgelu_bound(const ref::ShiftGeluParams& p, int32_t input_bound) {
  Tracker t;
  const double y = 1.6875 * input_bound;
  t.see(y, "shiftgelu: 1.702 x");
  see_shift_exp(t, p.exp, y);
  const int32_t s = ref::shift_exp_sum_shift(p.exp, 2);
  t.see(2.0 * std::floor(static_cast<double>(-p.exp.i0) * pow2(p.exp.n - s)), "shiftgelu: E1 + E2");
  t.see(static_cast<double>(input_bound) * (pow2(p.sigmoid_bits - 1) - 1.0), "shiftgelu: x * sigmoid");
  return t.b;
}

KernelBound ilayernorm_bound(const ref::ILayerNormParams& p, int32_t input_bound) {
  Tracker t;
  const int32_t channels = static_cast<int32_t>(p.gamma.size());
  const int32_t var_shift = ref::ilayernorm_var_shift(channels, p.input_bits, p.shift_m);
  // |x - mean| <= 2 max|x|, and <= 2^b - 1 for centered b-bit codes (the row lies in a 2^b - 1 range)
  const double d_bits = std::min(2.0 * input_bound, pow2(p.input_bits) - 1.0);
  t.see(static_cast<double>(channels) * input_bound, "ilayernorm: sum x");
  const double dt = std::round(std::ldexp(d_bits, -var_shift));
  t.see(static_cast<double>(channels) * dt * dt + p.var_eps, "ilayernorm: sum d_t^2 + eps");
  t.see(d_bits * pow2(p.shift_m + std::max(0, -var_shift)), "ilayernorm: d << M");
  const double norm = ilayernorm_norm_bound(channels, p.input_bits, p.shift_m);
  for (int32_t c = 0; c < channels; ++c) {
    const double y = norm * std::abs(p.gamma[c]) + std::abs(p.beta[c]);
    t.see(y, "ilayernorm: norm * g + h");
    t.see(requant_bound(p.rq[c], static_cast<int32_t>(std::min(y, kInt32MaxD))).worst_abs,
          "ilayernorm: requant");
  }
  return t.b;
}

KernelBound ibert_softmax_bound(const ref::IBertSoftmaxParams& p, int32_t cols, int32_t input_bound) {
  Tracker t;
  see_iexp(t, p.exp, 2.0 * input_bound);
  t.see(iexp_max(p.exp) * cols, "i-softmax: sum of exp");
  return t.b;
}

KernelBound ibert_gelu_bound(const ref::IBertGeluParams& p, int32_t input_bound) {
  Tracker t;
  t.see(static_cast<double>(p.erf.clip) * p.erf.clip, "i-erf: (min(|q|, clip) - clip)^2");
  t.see(static_cast<double>(p.erf.one), "i-erf: one - square");
  const double one_plus_erf = std::ldexp(static_cast<double>(p.erf.one), -p.erf.shift) + 1.0 + p.one_shifted;
  t.see(one_plus_erf, "i-gelu: one + erf");
  t.see(static_cast<double>(input_bound) * one_plus_erf, "i-gelu: q * (one + erf)");
  return t.b;
}

KernelBound int32safe_softmax_bound(const ref::Int32SafeSoftmaxParams& p, int32_t cols, int32_t input_bound) {
  Tracker t;
  see_iexp(t, p.exp, 2.0 * input_bound);
  const double e_max = iexp_max(p.exp);
  // as the kernel: bits of e_max (saturated to INT32_MAX when it does not fit)
  const int32_t e_bits = bit_length(static_cast<int32_t>(std::min(e_max, kInt32MaxD)));
  const int32_t s = std::max(0, ceil_log2(cols) + e_bits - 31);
  t.see(std::floor(std::ldexp(e_max, -s)) * cols, "int32safe softmax: sum of e >> s");
  t.see(std::ldexp(e_max, p.m_star - s), "int32safe softmax: e << (M* - s)");
  return t.b;
}

KernelBound log2_matmul_bound(const ref::Log2MatmulParams& p, int32_t k, int32_t v_bound) {
  Tracker t;
  t.see(static_cast<double>(v_bound) * std::max(pow2(p.frac_bits), static_cast<double>(p.sqrt2)),
        "log2 matmul: V << F or V * sqrt2");
  // Every term is at most V 2^F (code 0); code 1 gives round(V c / 2) ~ 0.71 V 2^F.
  t.see(static_cast<double>(k) * v_bound * std::max(pow2(p.frac_bits), std::ceil(p.sqrt2 / 2.0)),
        "log2 matmul: accumulator");
  return t.b;
}

}  // namespace qvit::kernels
