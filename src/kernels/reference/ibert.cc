#include "kernels/reference/ibert.h"

#include "kernels/int_math.h"
#include "util/error.h"

namespace qvit::kernels::ref {

void ibert_softmax(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, const IBertSoftmaxParams& p,
                   TruncationStats* stats) {
  QVIT_CHECK(rows >= 0 && cols >= 0, "ibert_softmax: negative size");
  validate(p.exp);
  validate(p.output);
  const int32_t events = softmax_rows(in, out, rows, cols, 0, p.output,
                                      [&p](int32_t i, bool& lost) { return ibert_exp(i, p.exp, lost); });
  record_truncations(stats, events, rows * cols);
}

void ibert_gelu(const int32_t* in, int32_t* out, int32_t count, const IBertGeluParams& p, TruncationStats* stats) {
  QVIT_CHECK(count >= 0, "ibert_gelu: negative size");
  if (p.erf.clip < 1 || p.erf.one < 0 || p.erf.shift < 0 || p.erf.shift > 31)
    throw Error("ibert_gelu: bad i-erf constants");
  int32_t events = 0;
  for (int32_t i = 0; i < count; ++i) {
    bool lost = false;
    const Checked32 one_plus_erf = sat_add(ibert_erf(in[i], p.erf, lost), p.one_shifted);
    const Checked32 prod = sat_mul(in[i], one_plus_erf.value);
    out[i] = prod.value;
    events += (lost || one_plus_erf.lost || prod.lost) ? 1 : 0;
  }
  record_truncations(stats, events, count);
}

}  // namespace qvit::kernels::ref
