#include "kernels/reference/shiftgelu.h"

#include "kernels/int_math.h"
#include "util/error.h"

namespace qvit::kernels::ref {
namespace {

// 1.6875 * x with saturation.
int32_t times_1702(int32_t x, bool& lost) {
  const Checked32 a = sat_add(x, x >> 1);
  const Checked32 b = sat_add(a.value, x >> 3);
  const Checked32 c = sat_add(b.value, x >> 4);
  lost = lost || a.lost || b.lost || c.lost;
  return c.value;
}

}  // namespace

void shiftgelu(const int32_t* in, int32_t* out, int32_t count, const ShiftGeluParams& p, TruncationStats* stats) {
  QVIT_CHECK(count >= 0, "shiftgelu: negative size");
  validate(p.exp);
  if (p.sigmoid_bits < 2 || p.sigmoid_bits > 31) throw Error("shiftgelu: sigmoid_bits must be in [2, 31]");
  const int32_t sum_shift = shift_exp_sum_shift(p.exp, 2);
  int32_t events = 0;
  for (int32_t i = 0; i < count; ++i) {
    bool lost = false;
    const int32_t y = times_1702(in[i], lost);
    const int32_t m = y > 0 ? y : 0;
    const int32_t e1 = rshift_floor(shift_exp(y - m, p.exp, lost), sum_shift);
    const int32_t e2 = rshift_floor(shift_exp(-m, p.exp, lost), sum_shift);
    const int32_t factor = kInt32Max / (e1 + e2);  // e1 + e2 <= 2^31 - 1 by the sum shift; one is >= 1
    const int32_t sig = (e1 * factor) >> (32 - p.sigmoid_bits);
    const Checked32 prod = sat_mul(in[i], sig);
    out[i] = prod.value;
    events += (lost || prod.lost) ? 1 : 0;
  }
  record_truncations(stats, events, count);
}

}  // namespace qvit::kernels::ref
