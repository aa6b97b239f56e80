#include "kernels/reference/log2_attention.h"

#include "util/error.h"

namespace qvit::kernels::ref {
namespace {

// V * 2^F * 2^(-q/2) for a code q below the zero code.
int32_t scaled_term(int32_t v, int32_t q, const Log2MatmulParams& p, bool& lost) {
  const Checked32 up = (q % 2 == 0) ? sat_shl(v, p.frac_bits) : sat_mul(v, p.sqrt2);
  lost = lost || up.lost;
  return rshift_round(up.value, (q + 1) / 2);  // q/2 for even q, (q+1)/2 for odd q
}

}  // namespace

void probs_to_log2_codes(const int32_t* p, int32_t* codes, int32_t count, int32_t frac_bits, int32_t code_bits) {
  QVIT_CHECK(count >= 0 && frac_bits >= 0 && frac_bits <= 31 && code_bits >= 1 && code_bits <= 16,
             "probs_to_log2_codes: bad parameters");
  for (int32_t i = 0; i < count; ++i) codes[i] = prob_to_log2_code(p[i], frac_bits, code_bits);
}

void log2_matmul(const int32_t* codes, const int32_t* v, int32_t* out, int32_t m, int32_t k, int32_t n,
                 const Log2MatmulParams& p, TruncationStats* stats) {
  QVIT_CHECK(m >= 0 && k >= 0 && n >= 0, "log2_matmul: negative size");
  QVIT_CHECK(p.frac_bits >= 0 && p.frac_bits <= 30 && p.sqrt2 > 0 && p.code_bits >= 1 && p.code_bits <= 16,
             "log2_matmul: bad parameters");
  const int32_t zero = log2_zero_code(p.code_bits);
  int32_t events = 0;
  for (int32_t i = 0; i < m; ++i) {
    for (int32_t c = 0; c < n; ++c) {
      bool lost = false;
      int32_t acc = 0;
      for (int32_t j = 0; j < k; ++j) {
        const int32_t q = codes[i * k + j];
        if (q >= zero) continue;
        const Checked32 sum = sat_add(acc, scaled_term(v[j * n + c], q, p, lost));
        lost = lost || sum.lost;
        acc = sum.value;
      }
      out[i * n + c] = acc;
      events += lost ? 1 : 0;
    }
  }
  record_truncations(stats, events, m * n);
}

}  // namespace qvit::kernels::ref
