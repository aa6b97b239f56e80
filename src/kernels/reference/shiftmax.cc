#include "kernels/reference/shiftmax.h"

#include "kernels/int_math.h"
#include "util/error.h"

namespace qvit::kernels::ref {

void shiftmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const ShiftmaxParams& p,
              TruncationStats* stats) {
  QVIT_CHECK(rows >= 0 && cols >= 0, "shiftmax: negative size");
  validate(p.exp);
  validate(p.output);
  const int32_t sum_shift = shift_exp_sum_shift(p.exp, cols);
  const int32_t events = softmax_rows(in, out, rows, cols, sum_shift, p.output,
                                      [&p](int32_t i, bool& lost) { return shift_exp(i, p.exp, lost); });
  record_truncations(stats, events, rows * cols);
}

}  // namespace qvit::kernels::ref
