#include "kernels/reference/ilayernorm.h"

#include "util/error.h"

namespace qvit::kernels::ref {
namespace {

void validate(const ILayerNormParams& p) {
  const auto channels = p.gamma.size();
  if (channels == 0 || p.beta.size() != channels || p.rq.size() != channels)
    throw Error("ilayernorm: gamma, beta and rq must have one entry per channel");
  if (p.input_bits < 1 || p.input_bits > 30 || p.shift_m < 0 || p.input_bits + p.shift_m > 31)
    throw Error("ilayernorm: need 1 <= input_bits, 0 <= M, input_bits + M <= 31");
  if (p.var_eps < 0 || p.range.lo > p.range.hi) throw Error("ilayernorm: bad var_eps or clamp range");
}

}  // namespace

void ilayernorm(const int32_t* in, int32_t* out, int32_t rows, const ILayerNormParams& p, TruncationStats* stats) {
  QVIT_CHECK(rows >= 0, "ilayernorm: negative size");
  validate(p);
  const int32_t channels = static_cast<int32_t>(p.gamma.size());
  const int32_t var_shift = ilayernorm_var_shift(channels, p.input_bits, p.shift_m);
  // A negative shift keeps u = -t fraction bits in x, the mean and d: a mean rounded to whole input
  // units would move every d by up to 1/2 unit, a few percent of sigma for 8-bit inputs.
  const int32_t frac = var_shift < 0 ? -var_shift : 0;
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    const int32_t* x = in + r * channels;
    bool row_lost = false;
    int32_t sum = 0;
    for (int32_t c = 0; c < channels; ++c) {
      const Checked32 xf = sat_shl(x[c], frac);
      const Checked32 s = sat_add(sum, xf.value);
      row_lost = row_lost || xf.lost || s.lost;
      sum = s.value;
    }
    const int32_t mean = div_round(sum, channels).value;  // a small mean rounding to 0 is not a loss
    int32_t var = p.var_eps;
    for (int32_t c = 0; c < channels; ++c) {
      const Checked32 d = sat_sub(sat_shl(x[c], frac).value, mean);
      const int32_t dt = var_shift > 0 ? rshift_round(d.value, var_shift) : d.value;
      const Checked32 sq = sat_mul(dt, dt);
      const Checked32 v = sat_add(var, sq.value);
      row_lost = row_lost || d.lost || sq.lost || v.lost;
      var = v.value;
    }
    const int32_t root = isqrt_newton(var);
    const int32_t std_int = root > 0 ? root : 1;
    for (int32_t c = 0; c < channels; ++c) {
      const Checked32 d = sat_sub(sat_shl(x[c], frac).value, mean);
      const Checked32 num = sat_shl(d.value, p.shift_m);
      const Checked32 norm = div_round(num.value, std_int);
      const Checked32 scaled = sat_mul(norm.value, p.gamma[c]);
      const Checked32 affine = sat_add(scaled.value, p.beta[c]);
      const Checked32 y = requant(affine.value, p.rq[c]);
      out[r * channels + c] = clamp(y.value, p.range.lo, p.range.hi);
      const bool lost = row_lost || d.lost || num.lost || norm.lost || scaled.lost || affine.lost || y.lost;
      events += lost ? 1 : 0;
    }
  }
  record_truncations(stats, events, rows * channels);
}

}  // namespace qvit::kernels::ref
