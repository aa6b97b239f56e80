#pragma once
// The units of work of the u8×s8 GEMM kernels. kernels/gemm_u8s8.cc hands out panels (a block of
// rows of A times one packed column panel of B) to threads, blocks K and cuts the rows into tiles;
// each path's tile function computes one tile and adds it to C with the offsets.
// Plain declarations and POD structs only: the x86 ISA files include this header too.
#include <cstdint>

namespace qvit::kernels {

struct GemmU8S8Panel {
  const uint8_t* a;  // the block's first row
  int64_t lda;
  int64_t rows;
  int64_t k;           // true depth; the panel holds it zero-padded to a multiple of 4
  const uint8_t* b;    // the panel's packed bytes (layout of the path: gemm_u8s8.cc)
  int64_t width;       // packed columns, a multiple of 16
  int64_t cols;        // valid columns, 1..width
  int bits;            // 8, or 4: nibble pairs (see the unpack functions)
  const int32_t* col_offset;  // at the panel's first column; null: zeros
  const int32_t* row_offset;  // at the block's first row; null: zeros
  int32_t* c;                 // the block's first row, the panel's first column
  int64_t ldc;
};

// One tile: up to kGemmTileRows rows of the panel over one K block of `groups` groups of 4 k.
// Rows past `rows` repeat the last row (computed, not stored). The last group of a k that is not
// a multiple of 4 comes as its own tile whose a_rows point at copies of the rows' tail bytes,
// zero filled: no kernel reads past a row of A.
constexpr int kGemmTileRows = 6;
struct GemmU8S8Tile {
  const uint8_t* a_rows[kGemmTileRows];  // at the block's k0
  int64_t groups;
  const int8_t* b;  // the block's B: groups × 4 k × width (unpacked when bits is 4)
  int64_t i0;       // first row of the tile in the panel
  int rows;         // rows stored, 1..tile rows
  bool first;       // first K block: C = offsets + sums, else C += sums
};  // no member initializers: trivial, so the ISA files construct and copy it without emitting code

// Portable tile of 4 rows × 16 columns on panels stored as kp rows × 16 int8 ([k][16]).
constexpr int kPlainTileRows = 4;
void gemm_u8s8_plain_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t);

// Unpacks `values` (a multiple of 64) 4-bit values to int8: each 64 values are 32 bytes, byte i
// holding value i in its low nibble and value i + 32 in its high nibble (two's complement).
void gemm_u8s8_plain_unpack_s4(const uint8_t* src, int64_t values, int8_t* dst);

}  // namespace qvit::kernels
