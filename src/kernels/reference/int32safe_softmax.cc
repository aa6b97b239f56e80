#include "kernels/reference/int32safe_softmax.h"

#include "kernels/int_math.h"
#include "kernels/reference/softmax_common.h"
#include "util/error.h"

namespace qvit::kernels::ref {

void int32safe_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const Int32SafeSoftmaxParams& p,
                       TruncationStats* stats) {
  QVIT_CHECK(rows >= 0 && cols >= 0, "int32safe_softmax: negative size");
  validate(p.exp);
  if (p.m_star < 1 || p.m_star > 30) throw Error("int32safe_softmax: M* must be in [1, 30]");
  const Checked32 b_sq = sat_mul(p.exp.b, p.exp.b);
  const Checked32 e_max = sat_add(b_sq.value, p.exp.c);  // i-exp at 0, its largest value
  // e_max itself past int32: the input was not requantized for M*; every element is suspect.
  const bool params_lost = b_sq.lost || e_max.lost;
  const int32_t sum_shift_raw = ceil_log2(cols) + bit_length(e_max.value) - 31;
  const int32_t sum_shift = sum_shift_raw > 0 ? sum_shift_raw : 0;

  SoftmaxRow row(cols);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    exp_of_centered_row(in + r * cols, cols, row, [&p](int32_t i, bool& lost) { return ibert_exp(i, p.exp, lost); });
    bool row_lost = params_lost;
    const int32_t denom = shifted_row_sum(row, cols, sum_shift, row_lost);
    int32_t* o = out + r * cols;
    for (int32_t j = 0; j < cols; ++j) {
      const Checked32 num = p.m_star >= sum_shift ? sat_shl(row.e[j], p.m_star - sum_shift)
                                                  : Checked32{rshift_floor(row.e[j], sum_shift - p.m_star), false};
      const Checked32 q = denom > 0 ? div_round(num.value, denom) : Checked32{0, row.e[j] != 0};
      o[j] = q.value;
      const bool lost = row_lost || row.lost[j] != 0 || num.lost || (row.e[j] != 0 && q.value == 0);
      events += lost ? 1 : 0;
    }
  }
  record_truncations(stats, events, rows * cols);
}

}  // namespace qvit::kernels::ref
