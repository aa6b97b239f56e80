#pragma once
// Entry points of the x86 integer elementwise kernels, each compiled for its own instruction set
// (<op>_avx2.cc, <op>_avx512.cc). Call one only when the CPU has that set (kernels/kernel_path.h);
// kernels/eltwise_kernels.cc does, after validating the parameters, and threads the calls. Each
// equals its reference kernel (kernels/reference/) bit for bit on the elements it is given and
// returns how many of them had a truncation event (counted as the reference counts them).
//
// The structs are trivial (no member initializers, no std types): the ISA files only read them,
// so they never emit a constructor or any other code another file could share.
#include <cstdint>

namespace qvit::kernels {

struct ClampBounds {
  int32_t lo;
  int32_t hi;
};

// A dyadic requantizer (int_math.h requant) with both shifts clamped to >= 0: rshift_round treats a
// shift <= 0 as 0, and the vector rounding shift needs a non-negative count.
// short_limit >= 0 when m0 >= 0 and both shifts are <= 31: then for t = |rshift_round(x, pre)| <=
// short_limit = INT32_MAX / max(m0, 1) the product t·m0 fits int32 and the requantizer is the
// short form sign(x)·((t·m0 + 2^(post-1)) >> post) on magnitudes (vector lanes with a larger t take
// the exact form); -1: the exact form only.
struct RequantConsts {
  int32_t pre_shift;
  int32_t m0;
  int32_t post_shift;
  int32_t short_limit;
};

// Per-channel requantizers as a structure of arrays (one vector load per field), shifts >= 0;
// short_limit per channel as in RequantConsts, or null when some channel has none (exact form).
struct RequantTable {
  const int32_t* pre_shift;
  const int32_t* m0;
  const int32_t* post_shift;
  const int32_t* short_limit;
};

struct ShiftGeluConsts {
  int32_t i0;             // shift-exp I0 (< 0)
  int32_t n;              // shift-exp fraction bits
  int32_t sum_shift;      // shift_exp_sum_shift(exp, 2)
  int32_t sigmoid_shift;  // 32 - sigmoid_bits
  int32_t exp_zero;       // rshift_floor(shift_exp(0), sum_shift): the e^0 term of every element
  bool exp_zero_lost;     // shift_exp(0) saturated, so every element is lost
};

struct IBertGeluConsts {
  int32_t clip;
  int32_t one;    // >= 0 (validated)
  int32_t shift;  // in [0, 31]
  int32_t one_shifted;
};

struct ILayerNormConsts {
  int32_t channels;
  int32_t frac;       // fraction bits kept: max(0, -var_shift)
  int32_t var_shift;  // ilayernorm_var_shift
  int32_t shift_m;
  int32_t var_eps;
  const int32_t* gamma;
  const int32_t* beta;
  RequantTable rq;
  ClampBounds range;
  // >= 0: a bound on |norm| under which norm·gamma + beta fits int32 for every channel,
  // (INT32_MAX - max|beta|) / max(max|gamma|, 1), so a vector within it multiplies and adds
  // without the saturation checks; -1: always checked.
  int32_t affine_limit;
};

struct AddConsts {
  RequantConsts a;
  RequantConsts b;
  int32_t shift;
  ClampBounds range;
};

// ---- shiftgelu_avx2.cc / shiftgelu_avx512.cc ----
int32_t shiftgelu_avx2(const int32_t* in, int32_t* out, int32_t count, const ShiftGeluConsts& k);
int32_t shiftgelu_avx512(const int32_t* in, int32_t* out, int32_t count, const ShiftGeluConsts& k);

// ---- ibert_gelu_avx2.cc / ibert_gelu_avx512.cc ----
int32_t ibert_gelu_avx2(const int32_t* in, int32_t* out, int32_t count, const IBertGeluConsts& k);
int32_t ibert_gelu_avx512(const int32_t* in, int32_t* out, int32_t count, const IBertGeluConsts& k);

// ---- ilayernorm_avx2.cc / ilayernorm_avx512.cc: the per-element passes over one row ----
// The caller does the scalar per-row work between them (mean, isqrt) and runs the reference for
// a row whose shifted inputs or partial sums could saturate (see eltwise_kernels.cc).
// Pass 1: the wrap-around sum of x[0..channels) and max |x| (as uint32, so |INT32_MIN| = 2^31).
void ilayernorm_row_sum_avx2(const int32_t* x, int32_t channels, int32_t* sum, uint32_t* max_magnitude);
void ilayernorm_row_sum_avx512(const int32_t* x, int32_t channels, int32_t* sum, uint32_t* max_magnitude);
// Pass 2, for a row where (x << frac) - mean cannot saturate: the reference's variance
// min(INT32_MAX, var_eps + sum sat(d_t^2)); *lost when a square or the sum saturated.
int32_t ilayernorm_row_variance_avx2(const int32_t* x, const ILayerNormConsts& k, int32_t mean, bool* lost);
int32_t ilayernorm_row_variance_avx512(const int32_t* x, const ILayerNormConsts& k, int32_t mean, bool* lost);
// Pass 3: normalize, affine, requantize and clamp; returns the row's truncation events.
int32_t ilayernorm_row_normalize_avx2(const int32_t* x, int32_t* out, const ILayerNormConsts& k, int32_t mean,
                                      int32_t std_int, bool row_lost);
int32_t ilayernorm_row_normalize_avx512(const int32_t* x, int32_t* out, const ILayerNormConsts& k, int32_t mean,
                                        int32_t std_int, bool row_lost);

// Where requantize writes: int32 values, or (codes non-null) uint8 codes value - offset, the caller
// having checked that the clamp range lies in [offset, offset + 255].
struct RequantOut {
  int32_t* values;
  uint8_t* codes;
  int32_t offset;
};

// ---- requantize_avx2.cc / requantize_avx512.cc ----
int32_t requantize_avx2(const int32_t* in, RequantOut out, int32_t count, const RequantConsts& rq, ClampBounds range);
int32_t requantize_avx512(const int32_t* in, RequantOut out, int32_t count, const RequantConsts& rq, ClampBounds range);
// in/out [rows, channels], rq one entry per channel.
int32_t requantize_per_channel_avx2(const int32_t* in, RequantOut out, int32_t rows, int32_t channels,
                                    const RequantTable& rq, ClampBounds range);
int32_t requantize_per_channel_avx512(const int32_t* in, RequantOut out, int32_t rows, int32_t channels,
                                      const RequantTable& rq, ClampBounds range);
void clamp_codes_avx2(const int32_t* in, int32_t* out, int32_t count, ClampBounds range);
void clamp_codes_avx512(const int32_t* in, int32_t* out, int32_t count, ClampBounds range);
// out[i] = sat(in[i] * c[i]): the caller lays out the repeating constants contiguously.
int32_t mul_const_avx2(const int32_t* in, const int32_t* c, int32_t count, int32_t* out);
int32_t mul_const_avx512(const int32_t* in, const int32_t* c, int32_t count, int32_t* out);

// ---- add_avx2.cc / add_avx512.cc: a[i] + b[i], both contiguous (the caller handles b's repeat) ----
int32_t add_avx2(const int32_t* a, const int32_t* b, int32_t count, int32_t* out, const AddConsts& k);
int32_t add_avx512(const int32_t* a, const int32_t* b, int32_t count, int32_t* out, const AddConsts& k);

}  // namespace qvit::kernels
