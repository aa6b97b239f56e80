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
  SoftmaxRow row(cols);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    exp_of_centered_row(in + r * cols, cols, row, [&p](int32_t i, bool& lost) { return shift_exp(i, p.exp, lost); });
    events += normalize_and_emit(row, cols, sum_shift, p.output, out + r * cols);
  }
  record_truncations(stats, events, rows * cols);
}

}  // namespace qvit::kernels::ref
