#pragma once
// The row normalization shared by Shiftmax (I-ViT) and the I-BERT softmax, and their output forms.
//
// Given exp values E_j >= 0 of a row (any scale), with a right shift s chosen by the caller:
//   E'_j = E_j >> s,  F = floor((2^31 - 1) / sum_j E'_j),  P_j = E'_j * F   (I-ViT's normalization)
// P_j ~ p_j * 2^31 (a probability with 31 fraction bits). E'_j <= sum E', so E'_j * F <= 2^31 - 1:
// the product never overflows; only the sum can, and s is what keeps it in int32 (a row whose sum
// still saturates marks all its elements as truncated).
// Output forms: uniform b-bit, out = P >> (31 - b + 1) with scale 2^-(b-1) (I-ViT's choice: values
// in [0, 2^(b-1) - 1]); or log-sqrt2 codes of P (log2_attention.h).
// Truncation events per element: any saturation on its path, or an output of 0 (uniform) / the
// zero code (log2) while its exp value was nonzero (MLSys'23's "nonzero divided to 0").
#include <cstdint>
#include <vector>

#include "kernels/int_math.h"

namespace qvit::kernels::ref {

enum class ProbFormat { kUniform, kLog2 };

struct ProbOutput {
  ProbFormat format = ProbFormat::kUniform;
  int32_t bits = 8;  // uniform: b in [2, 31], scale 2^-(b-1); log2: code bits in [1, 16]
};

void validate(const ProbOutput& o);

int32_t row_max(const int32_t* row, int32_t cols);

// Per-row scratch of the softmax kernels: exp values and their saturation flags.
struct SoftmaxRow {
  std::vector<int32_t> e;
  std::vector<char> lost;
  explicit SoftmaxRow(int32_t cols) : e(cols), lost(cols) {}
};

// sum_j (row.e[j] >> sum_shift), saturating; `lost` is set when it saturated.
int32_t shifted_row_sum(const SoftmaxRow& row, int32_t cols, int32_t sum_shift, bool& lost);

// Normalizes row.e with sum shift `sum_shift`, writes the row in format `o` to out and returns the
// number of truncated elements.
int32_t normalize_and_emit(const SoftmaxRow& row, int32_t cols, int32_t sum_shift, const ProbOutput& o, int32_t* out);

// Fills row.e / row.lost of one input row: e_j = exp_fn(x_j - max(x), lost_j).
template <class ExpFn>
void exp_of_centered_row(const int32_t* x, int32_t cols, SoftmaxRow& row, ExpFn exp_fn) {
  const int32_t max = row_max(x, cols);
  for (int32_t j = 0; j < cols; ++j) {
    const Checked32 centered = sat_sub(x[j], max);  // <= 0; saturates only if the row spans > 2^31
    bool lost = centered.lost;
    row.e[j] = exp_fn(centered.value, lost);
    row.lost[j] = lost;
  }
}

// The row loop shared by the softmax kernels whose normalization is normalize_and_emit (Shiftmax,
// I-BERT): exps of each max-centered row, then normalize; returns the truncated element count.
template <class ExpFn>
int32_t softmax_rows(const int32_t* in, int32_t* out, int32_t rows, int32_t cols, int32_t sum_shift, const ProbOutput& o,
                     ExpFn exp_fn) {
  SoftmaxRow row(cols);
  int32_t events = 0;
  for (int32_t r = 0; r < rows; ++r) {
    exp_of_centered_row(in + r * cols, cols, row, exp_fn);
    events += normalize_and_emit(row, cols, sum_shift, o, out + r * cols);
  }
  return events;
}

}  // namespace qvit::kernels::ref
