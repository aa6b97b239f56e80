#include "kernels/kernel_params.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/dyadic.h"
#include "kernels/kernel_bounds.h"
#include "util/error.h"

namespace qvit::kernels {
namespace {

constexpr double kInt32MaxD = 2147483647.0;
// I-BERT constants (arXiv 2101.01321): exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344 on (-ln2, 0];
// erf(x) ~ sgn(x) [a (min(|x|, -b) + b)^2 + 1], a = -0.2888, b = -1.769.
constexpr double kExpA = 0.3585, kExpB = 1.353, kExpC = 0.344;
constexpr double kErfA = 0.2888, kErfB = 1.769;

int32_t to_int32(double v, const char* what) {
  const double r = std::round(v);
  if (!std::isfinite(r) || std::fabs(r) > kInt32MaxD)
    throw Error(std::string(what) + " does not fit int32 (" + std::to_string(v) + "): input scale too small");
  return static_cast<int32_t>(r);
}

void check_scale(double s, const char* who) {
  if (!std::isfinite(s) || s <= 0.0) throw Error(std::string(who) + ": input scale must be > 0");
}

}  // namespace

ref::ShiftExpParams make_shift_exp_params(double input_scale, int32_t n) {
  check_scale(input_scale, "shift-exp");
  if (input_scale > 1.0) throw Error("shift-exp: input scale must be <= 1 (I0 = floor(-1/S) <= -1)");
  ref::ShiftExpParams p{static_cast<int32_t>(std::max(std::floor(-1.0 / input_scale), -1073741824.0)), n};
  ref::validate(p);
  return p;
}

ref::ShiftmaxParams make_shiftmax_params(double input_scale, int32_t n, ref::ProbOutput output) {
  ref::validate(output);
  return ref::ShiftmaxParams{make_shift_exp_params(input_scale, n), output};
}

ref::ShiftGeluParams make_shiftgelu_params(double input_scale, int32_t sigmoid_bits, int32_t n) {
  ref::ShiftExpParams e = make_shift_exp_params(input_scale, n);
  e.n = std::max(0, std::min(n, 30 - bit_length(-e.i0)));
  if (sigmoid_bits < 2 || sigmoid_bits > 31) throw Error("shiftgelu: sigmoid_bits must be in [2, 31]");
  return ref::ShiftGeluParams{e, sigmoid_bits};
}

double shiftgelu_output_scale(double input_scale, const ref::ShiftGeluParams& p) {
  return std::ldexp(input_scale, -(p.sigmoid_bits - 1));
}

double ilayernorm_norm_scale(int32_t channels, int32_t input_bits, int32_t shift_m) {
  const int32_t t = ref::ilayernorm_var_shift(channels, input_bits, shift_m);
  return std::sqrt(static_cast<double>(channels)) * std::ldexp(1.0, -(shift_m + std::max(t, 0)));
}

double ilayernorm_norm_bound(int32_t channels, int32_t input_bits, int32_t shift_m) {
  const int32_t t = ref::ilayernorm_var_shift(channels, input_bits, shift_m);
  return t <= 0 ? std::ldexp(1.0, shift_m) : 1.5 * std::ldexp(1.0, shift_m + t) + 1.0;
}

ref::ILayerNormParams make_ilayernorm_params(const std::vector<float>& gamma, const std::vector<float>& beta,
                                             double eps, double input_scale, int32_t input_bits,
                                             double output_scale, ref::ClampRange output_range, int32_t shift_m) {
  check_scale(input_scale, "ilayernorm");
  check_scale(output_scale, "ilayernorm output");
  if (gamma.empty() || gamma.size() != beta.size()) throw Error("ilayernorm: gamma and beta sizes differ or are 0");
  const int32_t channels = static_cast<int32_t>(gamma.size());
  ref::ILayerNormParams p;
  p.input_bits = input_bits;
  p.shift_m = shift_m;
  p.range = output_range;
  const int32_t t = ref::ilayernorm_var_shift(channels, input_bits, shift_m);
  const double eps_units = channels * eps / (input_scale * input_scale) * std::ldexp(1.0, -2 * t);
  p.var_eps = static_cast<int32_t>(std::min(std::round(eps_units), std::ldexp(1.0, 30)));

  // Per channel: gamma unit u_c so that |g_c| <= 2^G and |h_c| <= 2^30, where norm_bound * 2^G <= 2^30.
  const double s_norm = ilayernorm_norm_scale(channels, input_bits, shift_m);
  const double norm_bound = ilayernorm_norm_bound(channels, input_bits, shift_m);
  const int32_t g_bits = static_cast<int32_t>(std::floor(std::log2(std::ldexp(1.0, 30) / norm_bound)));
  if (g_bits < 1) throw Error("ilayernorm: normalized values leave no bits for gamma (input_bits + M too large)");
  const double y_bound = norm_bound * std::ldexp(1.0, g_bits) + std::ldexp(1.0, 30);
  for (int32_t c = 0; c < channels; ++c) {
    const double g = gamma[c], b = beta[c];
    const double unit = std::max(std::fabs(g) * std::ldexp(1.0, -g_bits), std::fabs(b) / (s_norm * std::ldexp(1.0, 30)));
    if (unit == 0.0) {
      p.gamma.push_back(0);
      p.beta.push_back(0);
      p.rq.push_back(Requant{0, 0, 0});
      continue;
    }
    p.gamma.push_back(to_int32(g / unit, "ilayernorm gamma"));
    p.beta.push_back(to_int32(b / (unit * s_norm), "ilayernorm beta"));
    const double multiplier = unit * s_norm / output_scale;
    const double bound = std::min(y_bound, (kInt32MaxD - 1.0) / multiplier);
    p.rq.push_back(make_requant(multiplier, static_cast<int32_t>(std::min(bound, kInt32MaxD))));
  }
  return p;
}

ref::IExpParams make_iexp_params(double input_scale, int32_t z_max) {
  check_scale(input_scale, "i-exp");
  ref::IExpParams p;
  p.ln2 = to_int32(std::log(2.0) / input_scale, "i-exp ln2");
  p.b = to_int32(kExpB / input_scale, "i-exp b");
  p.c = to_int32(kExpC / (kExpA * input_scale * input_scale), "i-exp c");
  p.z_max = z_max;
  ref::validate(p);
  return p;
}

double iexp_output_scale(double input_scale) { return kExpA * input_scale * input_scale; }

ref::IBertSoftmaxParams make_ibert_softmax_params(double input_scale, ref::ProbOutput output) {
  ref::validate(output);
  return ref::IBertSoftmaxParams{make_iexp_params(input_scale), output};
}

ref::IBertGeluParams make_ibert_gelu_params(double input_scale, int32_t erf_shift) {
  check_scale(input_scale, "i-gelu");
  if (erf_shift < 0 || erf_shift > 31) throw Error("i-gelu: erf shift must be in [0, 31]");
  const double se = input_scale / std::sqrt(2.0);
  ref::IBertGeluParams p;
  p.erf.clip = std::max(1, to_int32(kErfB / se, "i-erf clip"));
  p.erf.one = to_int32(1.0 / (kErfA * se * se), "i-erf one");
  p.erf.shift = erf_shift;
  p.one_shifted = to_int32(std::ldexp(1.0 / (kErfA * se * se), -erf_shift), "i-erf one >> shift");
  return p;
}

double ibert_gelu_output_scale(double input_scale, const ref::IBertGeluParams& p) {
  const double se = input_scale / std::sqrt(2.0);
  return input_scale * kErfA * se * se * std::ldexp(1.0, p.erf.shift) / 2.0;
}

double int32safe_softmax_min_input_scale(int32_t m_star) {
  if (m_star < 1 || m_star > 30) throw Error("int32safe softmax: M* must be in [1, 30]");
  const double limit = std::ldexp(1.0, 31 - m_star);  // e_max must stay below this
  const double e_coeff = kExpB * kExpB + kExpC / kExpA;  // e_max ~ e_coeff / S^2
  double s = std::sqrt(e_coeff / limit);
  for (int32_t i = 0; i < 10000; ++i, s *= 1.0 + 1e-4) {  // constants are rounded: walk up until it fits
    const double b = std::round(kExpB / s), c = std::round(kExpC / (kExpA * s * s));
    if (b * b + c < limit) return s;
  }
  throw Error("int32safe softmax: no input scale found for M* = " + std::to_string(m_star));
}

ref::Int32SafeSoftmaxParams make_int32safe_softmax_params(double input_scale, int32_t m_star) {
  const double min_scale = int32safe_softmax_min_input_scale(m_star);
  if (input_scale < min_scale)
    throw Error("int32safe softmax: input scale " + std::to_string(input_scale) + " is finer than " +
                std::to_string(min_scale) + ", the smallest for M* = " + std::to_string(m_star));
  return ref::Int32SafeSoftmaxParams{make_iexp_params(input_scale), m_star};
}

ref::IBertGeluParams make_int32safe_gelu_params(double input_scale, int32_t input_bound) {
  if (input_bound < 0 || input_bound > kInt32SafeGeluMaxInput)
    throw Error("int32safe gelu: input must be requantized below 10 bits (|q| <= 511), bound is " +
                std::to_string(input_bound));
  for (int32_t k = 0; k <= 31; ++k) {
    const ref::IBertGeluParams p = make_ibert_gelu_params(input_scale, k);
    // |erf_k| <= one_k + 1 (rounding), so |one_k + erf_k| <= 2 one_k + 1.
    const double worst = static_cast<double>(input_bound) * (2.0 * p.one_shifted + 1.0);
    if (worst <= kInt32MaxD && static_cast<double>(p.erf.clip) * p.erf.clip <= kInt32MaxD) return p;
  }
  throw Error("int32safe gelu: no erf shift makes the product fit int32");
}

ref::Log2MatmulParams make_log2_matmul_params(int32_t k_len, int32_t v_bound, int32_t code_bits) {
  if (k_len < 0 || v_bound < 0 || code_bits < 1 || code_bits > 16) throw Error("log2 matmul: bad parameters");
  for (int32_t f = 30; f >= 0; --f) {
    const ref::Log2MatmulParams p{f, static_cast<int32_t>(std::round(std::sqrt(2.0) * std::ldexp(1.0, f))), code_bits};
    if (fits_int32(log2_matmul_bound(p, std::max(k_len, 1), v_bound))) return p;
  }
  return ref::Log2MatmulParams{0, 1, code_bits};
}

}  // namespace qvit::kernels
