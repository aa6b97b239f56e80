#pragma once
// Tile entry points of the x86 u8×s8 GEMM kernels, each compiled for its own instruction set
// (gemm_u8s8_avx2.cc, _avx2vnni.cc, _avx512.cc). Call one only when the CPU has that set
// (kernels/kernel_path.h); kernels/gemm_u8s8.cc does, and packs B in the layout each expects.
#include <cstdint>

#include "kernels/plain/gemm_u8s8_plain.h"

namespace qvit::kernels {

// How the AVX2 tile multiplies (chosen at pack time, PackedS8::avx2_maddubs / path).
enum class Avx2Dot {
  Maddubs,  // vpmaddubsw + vpmaddwd on [k/4][16][4] int8: only when 2·255·max|B| ≤ 32767
  Exact,    // A and B widened to int16, vpmaddwd on [k/4][2][16][2] int16: any int8 B
  Vnni,     // AVX-VNNI vpdpbusd on [k/4][16][4] int8 (gemm_u8s8_avx2vnni_sums)
};
// Rows per tile: Vnni 6 (12 ymm accumulators), Maddubs and Exact 4 (their temporaries need room).
constexpr int kAvx2TileRows = 4;
constexpr int kAvx2VnniTileRows = 6;
constexpr int kAvx512TileRows = 6;

// Avx2 and Avx2Vnni paths: a tile of 16 columns.
void gemm_u8s8_avx2_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t, Avx2Dot dot);
// Avx512 path: a tile of the panel's 16, 32 or 48 columns stored as [k/4][width][4] int8.
void gemm_u8s8_avx512_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t);

// gemm_u8s8_plain_unpack_s4 with AVX2 (same nibble layout).
void gemm_u8s8_avx2_unpack_s4(const uint8_t* src, int64_t values, int8_t* dst);

// The Avx2Dot::Vnni sums: sums[r][j] = sum over the tile's groups g of a_rows[r][4g .. 4g+3] ·
// b[g][j][0..3], 6 rows × 16 columns (gemm_u8s8_avx2_tile adds them to C).
void gemm_u8s8_avx2vnni_sums(const GemmU8S8Tile& t, int32_t (*sums)[16]);

}  // namespace qvit::kernels
