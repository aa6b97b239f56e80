#include "kernels/reference/matmul.h"

#include "kernels/int_math.h"
#include "util/error.h"

namespace qvit::kernels::ref {
namespace {

// One output element: bias + sum_j a[j*a_step] * b[j*b_step], saturating, with a lost flag.
int32_t dot(const int32_t* a, int32_t a_step, const int32_t* b, int32_t b_step, int32_t k, int32_t init,
            bool& lost) {
  int32_t acc = init;
  for (int32_t j = 0; j < k; ++j) {
    const Checked32 prod = sat_mul(a[j * a_step], b[j * b_step]);
    const Checked32 sum = sat_add(acc, prod.value);
    lost = lost || prod.lost || sum.lost;
    acc = sum.value;
  }
  return acc;
}

// Shared driver: element (i, col) of B lives at b + col*col_step, its k-th entry j*k_step further.
void run(const int32_t* a, const int32_t* b, int32_t col_step, int32_t k_step, const int32_t* bias, int32_t* c,
         int32_t m, int32_t k, int32_t n, TruncationStats* stats) {
  QVIT_CHECK(m >= 0 && k >= 0 && n >= 0, "matmul: negative size");
  int32_t events = 0;
  for (int32_t i = 0; i < m; ++i) {
    for (int32_t col = 0; col < n; ++col) {
      bool lost = false;
      c[i * n + col] = dot(a + i * k, 1, b + col * col_step, k_step, k, bias != nullptr ? bias[col] : 0, lost);
      events += lost ? 1 : 0;
    }
  }
  record_truncations(stats, events, m * n);
}

}  // namespace

void matmul(const int32_t* a, const int32_t* b, const int32_t* bias, int32_t* c, int32_t m, int32_t k, int32_t n,
            TruncationStats* stats) {
  run(a, b, 1, n, bias, c, m, k, n, stats);
}

void matmul_bt(const int32_t* a, const int32_t* bt, const int32_t* bias, int32_t* c, int32_t m, int32_t k, int32_t n,
               TruncationStats* stats) {
  run(a, bt, k, 1, bias, c, m, k, n, stats);
}

}  // namespace qvit::kernels::ref
