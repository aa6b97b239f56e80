#include "kernels/reference/softmax_common.h"

#include "kernels/int_math.h"
#include "kernels/reference/log2_attention.h"
#include "util/error.h"

namespace qvit::kernels::ref {

void validate(const ProbOutput& o) {
  if (o.format == ProbFormat::kUniform && (o.bits < 2 || o.bits > 31))
    throw Error("softmax: uniform output bits must be in [2, 31]");
  if (o.format == ProbFormat::kLog2 && (o.bits < 1 || o.bits > 16))
    throw Error("softmax: log2 code bits must be in [1, 16]");
}

int32_t row_max(const int32_t* row, int32_t cols) {
  int32_t m = kInt32Min;
  for (int32_t j = 0; j < cols; ++j) m = row[j] > m ? row[j] : m;
  return m;
}

int32_t shifted_row_sum(const SoftmaxRow& row, int32_t cols, int32_t sum_shift, bool& lost) {
  int32_t sum = 0;
  for (int32_t j = 0; j < cols; ++j) {
    const Checked32 s = sat_add(sum, rshift_floor(row.e[j], sum_shift));
    lost = lost || s.lost;
    sum = s.value;
  }
  return sum;
}

int32_t normalize_and_emit(const SoftmaxRow& row, int32_t cols, int32_t sum_shift, const ProbOutput& o, int32_t* out) {
  bool row_lost = false;
  const int32_t sum = shifted_row_sum(row, cols, sum_shift, row_lost);
  const int32_t factor = sum > 0 ? kInt32Max / sum : 0;  // sum = 0 only if every E' is 0
  const int32_t zero_out = o.format == ProbFormat::kUniform ? 0 : log2_zero_code(o.bits);
  int32_t events = 0;
  for (int32_t j = 0; j < cols; ++j) {
    const int32_t p_q31 = rshift_floor(row.e[j], sum_shift) * factor;  // <= sum * factor <= 2^31 - 1
    out[j] = o.format == ProbFormat::kUniform ? (p_q31 >> (32 - o.bits)) : prob_to_log2_code(p_q31, 31, o.bits);
    const bool lost = row_lost || row.lost[j] != 0 || (row.e[j] != 0 && out[j] == zero_out);
    events += lost ? 1 : 0;
  }
  return events;
}

}  // namespace qvit::kernels::ref
