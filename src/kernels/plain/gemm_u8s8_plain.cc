// Portable u8×s8 GEMM tile (any CPU): 4 rows × 16 columns of a panel stored as kp rows of 16 int8.
// The loops are shaped for the compiler's vectorizer: 16 int32 sums per row, one A value per row
// and k, the B row widened to int16 once for the 4 rows.
#include "kernels/plain/gemm_u8s8_plain.h"

namespace qvit::kernels {
namespace {

constexpr int64_t kWidth = 16;

}  // namespace

void gemm_u8s8_plain_unpack_s4(const uint8_t* src, int64_t values, int8_t* dst) {
  for (int64_t chunk = 0; chunk < values; chunk += 64) {
    for (int i = 0; i < 32; ++i) {
      const int byte = src[chunk / 2 + i];
      dst[chunk + i] = static_cast<int8_t>(((byte & 15) ^ 8) - 8);  // (x ^ 8) - 8 sign-extends a nibble
      dst[chunk + i + 32] = static_cast<int8_t>(((byte >> 4) ^ 8) - 8);
    }
  }
}

void gemm_u8s8_plain_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t) {
  // Each product fits int16 (|a·b| ≤ 255·128 = 32640): written so, the vectorizer uses 16-bit
  // multiplies (pmullw) widened into the int32 sums, ~2x faster on SSE2 than int32 multiplies.
  int32_t sums[kPlainTileRows][kWidth] = {};
  for (int64_t kk = 0; kk < 4 * t.groups; ++kk) {
    int16_t b_row[kWidth];
    for (int64_t j = 0; j < kWidth; ++j) b_row[j] = t.b[kk * kWidth + j];
    for (int r = 0; r < kPlainTileRows; ++r) {
      const int16_t av = t.a_rows[r][kk];
      for (int64_t j = 0; j < kWidth; ++j) sums[r][j] += static_cast<int16_t>(av * b_row[j]);
    }
  }
  for (int r = 0; r < t.rows; ++r) {
    int32_t* c_row = p.c + (t.i0 + r) * p.ldc;
    const int32_t row_off = p.row_offset != nullptr ? p.row_offset[t.i0 + r] : 0;
    for (int64_t j = 0; j < p.cols; ++j) {
      const int32_t base = t.first ? (p.col_offset != nullptr ? p.col_offset[j] : 0) + row_off : c_row[j];
      c_row[j] = base + sums[r][j];
    }
  }
}

}  // namespace qvit::kernels
