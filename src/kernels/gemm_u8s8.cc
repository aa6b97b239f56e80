// The u8×s8 GEMM dispatcher: packing B for a path, the threaded loop over row blocks × column
// panels, and per panel the K blocking and row tiles that call the path's tile kernel
// (kernels/plain/, kernels/x86/).
//
// Packed layouts (PackedS8::data). B is cut into column panels of W columns (the last one: the
// remaining columns rounded up to 16), k is zero padded to kp (a multiple of 4), padding columns
// are zero. Panel q starts at byte q·kp·W·(element bytes) (halved for 4 bits); inside a panel of
// width w, element (t, j) (k index t, column j) sits at
//   ref        no panels: B row-major [k][n] int8 (also for 4 bits)
//   plain      W 16, rows:   t·16 + j                                 int8
//   avx2vnni   W 16, groups: (t/4)·64 + j·4 + t%4   ([k/4][16][4])     int8
//   avx2       maddubs variant (max|B| ≤ 64): as avx2vnni;
//              exact variant: W 16, pairs: (t/4)·64 + (t%4/2)·32 + j·2 + t%2 ([k/4][2][16][2]) int16
//   avx512     W 48, groups: (t/4)·4w + j·4 + t%4   ([k/4][w][4])      int8
// 4 bits (int8 layouts only; 4-bit values never need the exact variant): the panel's element
// stream in chunks of 64 values, chunk c at bytes 32c..32c+31, byte i holding value i in its low
// nibble and value i + 32 in its high nibble (one vector load, two ands and a shift to unpack).
#include "kernels/gemm_u8s8.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "kernels/plain/gemm_u8s8_plain.h"
#include "kernels/reference/gemm_u8s8.h"
#include "util/error.h"
#include "util/thread_pool.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/gemm_u8s8_x86.h"
#endif

namespace qvit::kernels {
namespace {

enum class Order { Rows, Groups, Pairs };

struct Layout {
  int64_t width;       // W: columns per full panel
  Order order;
  int64_t elem_bytes;  // 1, or 2 for the int16 pairs
};

Layout layout_of(KernelPath path, bool avx2_maddubs) {
  switch (path) {
    case KernelPath::Ref:
    case KernelPath::Plain: return {16, Order::Rows, 1};
    case KernelPath::Avx2: return avx2_maddubs ? Layout{16, Order::Groups, 1} : Layout{16, Order::Pairs, 2};
    case KernelPath::Avx2Vnni: return {16, Order::Groups, 1};
    case KernelPath::Avx512: return {48, Order::Groups, 1};
  }
  return {16, Order::Rows, 1};
}

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
int64_t padded_depth(int64_t k) { return round_up(k, 4); }
int64_t panel_width(const Layout& l, int64_t n, int64_t q) { return std::min(l.width, round_up(n - q * l.width, 16)); }
int64_t panel_bytes(const Layout& l, int64_t kp, int64_t width, int bits) {
  return kp * width * l.elem_bytes / (bits == 4 ? 2 : 1);
}

// Element (t, j) of a panel of `width` columns: its index in the panel's element stream.
int64_t rows_index(int64_t width, int64_t t, int64_t j) { return t * width + j; }
int64_t groups_index(int64_t width, int64_t t, int64_t j) { return (t / 4) * 4 * width + j * 4 + t % 4; }
int64_t pairs_index(int64_t, int64_t t, int64_t j) { return (t / 4) * 64 + (t % 4 / 2) * 32 + j * 2 + t % 2; }

void put_int8(uint8_t* panel, int64_t index, int8_t v) { panel[index] = static_cast<uint8_t>(v); }
void put_int16(uint8_t* panel, int64_t index, int8_t v) {  // little endian
  const auto u = static_cast<uint16_t>(static_cast<int16_t>(v));
  panel[2 * index] = static_cast<uint8_t>(u & 0xFF);
  panel[2 * index + 1] = static_cast<uint8_t>(u >> 8);
}
void put_nibble(uint8_t* panel, int64_t index, int8_t v) {  // into zeroed bytes
  const int64_t byte = index / 64 * 32 + index % 32;
  panel[byte] = static_cast<uint8_t>(panel[byte] | (static_cast<uint32_t>(v) & 15u) << (index % 64 >= 32 ? 4 : 0));
}

// Writes every element of B into its panel (padding stays zero). Templated on the index and
// store functions so that per-call packing of activations runs without a branch per element.
template <class Index, class Put>
void fill_panels(const int8_t* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, const Layout& l,
                 int64_t full_bytes, uint8_t* data, Index index, Put put) {
  const int64_t panels = (n + l.width - 1) / l.width;
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t width = panel_width(l, n, q), cols = std::min(l.width, n - q * l.width);
    uint8_t* panel = data + q * full_bytes;
    const int8_t* src = b + q * l.width * col_stride;
    for (int64_t t = 0; t < k; ++t)  // in the panel's order: strided reads beat strided writes
      for (int64_t j = 0; j < cols; ++j) put(panel, index(width, t, j), src[t * row_stride + j * col_stride]);
  }
}

template <class Index>
void fill_panels(const int8_t* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, const Layout& l,
                 int bits, int64_t full_bytes, uint8_t* data, Index index) {
  if (bits == 4)
    fill_panels(b, row_stride, col_stride, k, n, l, full_bytes, data, index, put_nibble);
  else if (l.elem_bytes == 2)
    fill_panels(b, row_stride, col_stride, k, n, l, full_bytes, data, index, put_int16);
  else
    fill_panels(b, row_stride, col_stride, k, n, l, full_bytes, data, index, put_int8);
}

// The common case of packing at run time (Kᵀ and V of attention, rows contiguous): int8 groups
// layout, column stride 1. Four rows of B interleave into the groups' bytes (element (t, j) at
// (t/4)·4w + j·4 + t%4), 16 columns per step with SSE2 byte and word unpacks on x86-64 (its
// baseline), one element at a time elsewhere and for the last columns; rows past k stay zero.
void fill_groups_rows(const int8_t* b, int64_t row_stride, int64_t k, int64_t n, const Layout& l, int64_t full_bytes,
                      uint8_t* data) {
  const int64_t panels = (n + l.width - 1) / l.width;
  const int8_t zeros[16] = {};
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t width = panel_width(l, n, q), cols = std::min(l.width, n - q * l.width);
    uint8_t* panel = data + q * full_bytes;
    for (int64_t t0 = 0; t0 < k; t0 += 4) {
      uint8_t* group = panel + t0 * width;  // (t0/4)·4w
      const int8_t* row[4];
      for (int r = 0; r < 4; ++r) row[r] = t0 + r < k ? b + (t0 + r) * row_stride + q * l.width : nullptr;
      int64_t j = 0;
#if defined(__SSE2__)
      for (; j + 16 <= cols; j += 16) {
        __m128i v[4];
        for (int r = 0; r < 4; ++r)
          v[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[r] ? row[r] + j : zeros));
        const __m128i lo01 = _mm_unpacklo_epi8(v[0], v[1]), hi01 = _mm_unpackhi_epi8(v[0], v[1]);
        const __m128i lo23 = _mm_unpacklo_epi8(v[2], v[3]), hi23 = _mm_unpackhi_epi8(v[2], v[3]);
        __m128i* dst = reinterpret_cast<__m128i*>(group + j * 4);
        _mm_storeu_si128(dst + 0, _mm_unpacklo_epi16(lo01, lo23));
        _mm_storeu_si128(dst + 1, _mm_unpackhi_epi16(lo01, lo23));
        _mm_storeu_si128(dst + 2, _mm_unpacklo_epi16(hi01, hi23));
        _mm_storeu_si128(dst + 3, _mm_unpackhi_epi16(hi01, hi23));
      }
#endif
      for (; j < cols; ++j)
        for (int r = 0; r < 4; ++r) group[j * 4 + r] = row[r] ? static_cast<uint8_t>(row[r][j]) : 0;
    }
  }
}

// Column sums and the value range of B read with column stride 1 (rows contiguous): a plain
// function with restrict pointers, so the int8 loads cannot alias the int32 sums and the loop
// over a row vectorizes.
void column_sums_rows(const int8_t* __restrict b, int64_t row_stride, int64_t k, int64_t n, int32_t* __restrict sums,
                      int32_t* lo_out, int32_t* hi_out) {
  int32_t lo = 0, hi = 0;
  for (int64_t t = 0; t < k; ++t) {
    const int8_t* __restrict row = b + t * row_stride;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t v = row[j];
      sums[j] += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  *lo_out = lo;
  *hi_out = hi;
}

// Rows of C per task: a multiple of every kernel's tile rows (4, 6, 8), about kBlockRows, split
// evenly so that the last block is not a sliver.
constexpr int64_t kBlockRows = 96;

int64_t rows_per_block(int64_t m) {
  const int64_t blocks = (m + kBlockRows - 1) / kBlockRows;
  return round_up((m + blocks - 1) / blocks, 24);
}

// k per block (a multiple of 64 for the nibble chunks): the block's slice of a panel (16-48 KiB at
// most) stays in L1 while the row tiles stream over it.
constexpr int64_t kDepth = 512;

// One path's tile kernel, its rows per tile and its 4-bit unpacking.
struct TileKernel {
  void (*tile)(const GemmU8S8Panel&, const GemmU8S8Tile&);
  int rows;
  void (*unpack_s4)(const uint8_t*, int64_t, int8_t*);
};

#if defined(__x86_64__) || defined(__i386__)
void avx2_maddubs_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { gemm_u8s8_avx2_tile(p, t, Avx2Dot::Maddubs); }
void avx2_exact_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { gemm_u8s8_avx2_tile(p, t, Avx2Dot::Exact); }
void avx2_vnni_tile(const GemmU8S8Panel& p, const GemmU8S8Tile& t) { gemm_u8s8_avx2_tile(p, t, Avx2Dot::Vnni); }
#endif

TileKernel tile_kernel(const PackedS8& b) {
  switch (b.path) {
    case KernelPath::Ref: break;  // no panels: the caller runs the reference
    case KernelPath::Plain: return {gemm_u8s8_plain_tile, kPlainTileRows, gemm_u8s8_plain_unpack_s4};
#if defined(__x86_64__) || defined(__i386__)
    case KernelPath::Avx2:
      return {b.avx2_maddubs ? avx2_maddubs_tile : avx2_exact_tile, kAvx2TileRows, gemm_u8s8_avx2_unpack_s4};
    case KernelPath::Avx2Vnni: return {avx2_vnni_tile, kAvx2VnniTileRows, gemm_u8s8_avx2_unpack_s4};
    case KernelPath::Avx512: return {gemm_u8s8_avx512_tile, kAvx512TileRows, gemm_u8s8_avx2_unpack_s4};
#else
    default: break;
#endif
  }
  QVIT_CHECK(false, std::string("gemm_u8s8: no kernel for path ") + kernel_path_name(b.path));
  return {};
}

// A row block × one panel: K blocks, 4-bit B unpacked once per block (into a buffer, not a full
// copy), row tiles, and the k % 4 tail group as its own tile on copied A bytes.
void run_panel(const TileKernel& kernel, const Layout& l, const GemmU8S8Panel& p) {
  const int64_t kp = padded_depth(p.k);
  const int64_t group_bytes = 4 * p.width * l.elem_bytes;
  alignas(64) int8_t unpacked[kDepth * 48];
  for (int64_t k0 = 0;; k0 += kDepth) {  // at least one block: k = 0 still writes the offsets
    const int64_t k1 = std::min(k0 + kDepth, p.k);
    GemmU8S8Tile t;
    t.groups = (k1 - k0) / 4;
    t.first = k0 == 0;
    const int64_t tail = (k1 - k0) % 4;  // only in the last block: kDepth is a multiple of 4
    t.b = reinterpret_cast<const int8_t*>(p.b) + k0 / 4 * group_bytes;
    if (p.bits == 4 && k1 > k0) {
      kernel.unpack_s4(p.b + k0 / 4 * group_bytes / 2, (std::min(k0 + kDepth, kp) - k0) * p.width, unpacked);
      t.b = unpacked;
    }
    for (t.i0 = 0; t.i0 < p.rows; t.i0 += kernel.rows) {
      t.rows = static_cast<int>(std::min<int64_t>(kernel.rows, p.rows - t.i0));
      for (int r = 0; r < kGemmTileRows; ++r) t.a_rows[r] = p.a + (t.i0 + std::min(r, t.rows - 1)) * p.lda + k0;
      kernel.tile(p, t);
      if (tail != 0) {  // B is zero past k, so the copies' zero fill adds nothing
        uint32_t tail_words[kGemmTileRows] = {};
        GemmU8S8Tile last = t;
        last.groups = 1;
        last.first = false;
        last.b = t.b + t.groups * group_bytes;
        for (int r = 0; r < kGemmTileRows; ++r) {
          std::memcpy(&tail_words[r], t.a_rows[r] + 4 * t.groups, static_cast<size_t>(tail));
          last.a_rows[r] = reinterpret_cast<const uint8_t*>(&tail_words[r]);
        }
        kernel.tile(p, last);
      }
    }
    if (k1 >= p.k) break;
  }
}

}  // namespace

PackedS8 pack_s8(const int8_t* b, int64_t row_stride, int64_t col_stride, int64_t k, int64_t n, KernelPath path,
                 int bits) {
  QVIT_CHECK(k >= 0 && n >= 0, "pack_s8: negative size");
  QVIT_CHECK(bits == 4 || bits == 8, "pack_s8: bits must be 4 or 8");
  QVIT_CHECK(kernel_path_supported(path), std::string("pack_s8: this CPU cannot run path ") + kernel_path_name(path));
  PackedS8 p;
  p.path = path;
  p.k = k;
  p.n = n;
  p.bits = bits;
  p.col_sums.assign(static_cast<size_t>(n), 0);
  int32_t lo = 0, hi = 0;
  auto visit = [&](int64_t t, int64_t j) {
    const int32_t v = b[t * row_stride + j * col_stride];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    p.col_sums[static_cast<size_t>(j)] += v;
  };
  if (col_stride == 1) {
    column_sums_rows(b, row_stride, k, n, p.col_sums.data(), &lo, &hi);
  } else if (col_stride <= row_stride) {  // the inner loop walks the smaller stride
    for (int64_t t = 0; t < k; ++t)
      for (int64_t j = 0; j < n; ++j) visit(t, j);
  } else {
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < k; ++t) visit(t, j);
  }
  QVIT_CHECK(bits == 8 || (lo >= -8 && hi <= 7), "pack_s8: a 4-bit value outside [-8, 7]");
  p.max_abs = std::max(-lo, hi);
  p.avx2_maddubs = 2 * 255 * p.max_abs <= 32767;

  if (path == KernelPath::Ref) {
    p.data.resize(static_cast<size_t>(k * n));
    for (int64_t t = 0; t < k; ++t)
      for (int64_t j = 0; j < n; ++j)
        p.data[static_cast<size_t>(t * n + j)] = static_cast<uint8_t>(b[t * row_stride + j * col_stride]);
    return p;
  }
  const Layout l = layout_of(path, p.avx2_maddubs);
  const int64_t kp = padded_depth(k);
  const int64_t panels = (n + l.width - 1) / l.width;
  const int64_t full_bytes = panel_bytes(l, kp, l.width, bits);
  p.data.assign(static_cast<size_t>(panels == 0 ? 0 : (panels - 1) * full_bytes +
                                                          panel_bytes(l, kp, panel_width(l, n, panels - 1), bits)),
                0);
  switch (l.order) {
    case Order::Rows: fill_panels(b, row_stride, col_stride, k, n, l, bits, full_bytes, p.data.data(), rows_index); break;
    case Order::Groups:
      if (bits == 8 && col_stride == 1) fill_groups_rows(b, row_stride, k, n, l, full_bytes, p.data.data());
      else fill_panels(b, row_stride, col_stride, k, n, l, bits, full_bytes, p.data.data(), groups_index);
      break;
    case Order::Pairs: fill_panels(b, row_stride, col_stride, k, n, l, bits, full_bytes, p.data.data(), pairs_index); break;
  }
  return p;
}

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m, const PackedS8& b, const int32_t* col_offset,
               const int32_t* row_offset, int32_t* c, int64_t ldc,
               const std::function<void(int64_t r0, int64_t r1)>* after_rows) {
  QVIT_CHECK(m >= 0, "gemm_u8s8: negative m");
  QVIT_CHECK(m <= 1 || (lda >= b.k && ldc >= b.n), "gemm_u8s8: row stride below the row length");
  if (m == 0) return;
  if (b.path == KernelPath::Ref || b.n == 0) {
    QVIT_CHECK(m * lda <= INT32_MAX && b.k * b.n <= INT32_MAX && m * ldc <= INT32_MAX, "gemm_u8s8: too large for the reference");
    ref::gemm_u8s8(a, static_cast<int32_t>(lda), static_cast<int32_t>(m), reinterpret_cast<const int8_t*>(b.data.data()),
                   static_cast<int32_t>(b.k), static_cast<int32_t>(b.n), col_offset, row_offset, c, static_cast<int32_t>(ldc));
    if (after_rows != nullptr) (*after_rows)(0, m);
    return;
  }
  const Layout l = layout_of(b.path, b.avx2_maddubs);
  const TileKernel kernel = tile_kernel(b);
  const int64_t kp = padded_depth(b.k);
  const int64_t panels = (b.n + l.width - 1) / l.width;
  const int64_t full_bytes = panel_bytes(l, kp, l.width, b.bits);
  const int64_t block_rows = rows_per_block(m);
  const int64_t blocks = (m + block_rows - 1) / block_rows;
  // Panels still to do per row block: the worker finishing the last one runs after_rows.
  const auto remaining = std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) remaining[i].store(panels, std::memory_order_relaxed);
  // Tasks row block major: a thread's chunk of consecutive tasks reuses one A block from cache.
  parallel_for(blocks * panels, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t block = t / panels, q = t % panels;
      const int64_t r0 = block * block_rows, r1 = std::min(m, r0 + block_rows);
      GemmU8S8Panel task;
      task.a = a + r0 * lda;
      task.lda = lda;
      task.rows = r1 - r0;
      task.k = b.k;
      task.b = b.data.data() + q * full_bytes;
      task.width = panel_width(l, b.n, q);
      task.cols = std::min(l.width, b.n - q * l.width);
      task.bits = b.bits;
      task.col_offset = col_offset != nullptr ? col_offset + q * l.width : nullptr;
      task.row_offset = row_offset != nullptr ? row_offset + r0 : nullptr;
      task.c = c + r0 * ldc + q * l.width;
      task.ldc = ldc;
      run_panel(kernel, l, task);
      if (remaining[block].fetch_sub(1, std::memory_order_acq_rel) == 1 && after_rows != nullptr)
        (*after_rows)(r0, r1);
    }
  });
}

}  // namespace qvit::kernels
