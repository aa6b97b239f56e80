// qvit_proto_bench: prototypes of faster float kernels for the float executor, measured against
// the ops they would replace (src/ir/ops), on the DeiT-S-shape model of docs/benchmarks.md.
// Nothing here is used by qvit itself: it is the evidence for the suggestions in
// docs/benchmarks.md ("Where the time goes").
//
//   qvit_proto_bench --model=PATH [--threads=2] [--batches=1,8] [--min_time=2] [benchmark flags]
//
// Benchmarks
//   BM_forward/<variant>/batch:B   whole forward, images/s. Variants run the same imported graph:
//     qvit        qvit::Executor, as shipped
//     replay      a minimal executor in this file calling the same qvit kernels (its overhead is nil:
//                 the baseline for the next two)
//     kernels     + AVX-512 Softmax / Gelu / LayerNorm, Reshape and Slice without element loops,
//                 MatMul/Reshape/Softmax/Gelu reusing a dying input's buffer instead of copying
//     attention   + one fused attention step per block: from the qkv Linear output [L,N,3E] straight
//                 to the out-projection input [L·N,E] with strided BLAS calls (QKᵀ·scale, softmax in
//                 place, ·V written in the final layout) — no Slice/Transpose/Div copies
//   BM_kernel/<op>/<impl>          one op on DeiT-S-shape data: qvit's kernel, the AVX-512 intrinsics
//                                  prototype, and (Softmax, Gelu) a portable C++ version that GCC
//                                  vectorizes itself under target_clones — the minimal src/ fix
//   BM_sgemm/MxNxK                 OpenBLAS sgemm on the four Linear shapes (GFLOP/s counter); run
//                                  with OPENBLAS_CORETYPE=SkylakeX to see OpenBLAS's AVX-512 kernel
// At start-up every prototype kernel and forward variant is checked against qvit's output (max |diff| printed to stderr; the
// program fails if the logits differ by more than 1e-3 relative).
#include <benchmark/benchmark.h>
#include <cblas.h>
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized in _mm512_undefined_ps (GCC bug 105593, fixed
// in 13); the diagnostic is attributed to the header, so silencing it around the include suffices.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "ir/executor.h"
#include "ir/op_registry.h"
#include "onnx/onnx_import.h"
#include "util/error.h"
#include "util/thread_pool.h"

#ifdef QVIT_BENCH_HAVE_DNNL
// oneDNN's C GEMM (libdnnl2 ships without headers here; this is its documented signature).
// Row-major, like cblas with CblasRowMajor. Threads: OpenMP (OMP_NUM_THREADS).
extern "C" int dnnl_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
#endif

namespace qvit::bench {
namespace {

bool have_avx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
}
const bool kHaveAvx512 = have_avx512();

// ---------------------------------------------------------------------------------------------
// AVX-512 kernels. Same math as src/ir/ops/fast_math.cc (same polynomials), 16 lanes at a time.

__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(k, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, k);
}

__attribute__((target("avx512f"))) inline __m512 erf16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.77068142495902e-08f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
  __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-2.13374055278905e-04f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
  return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// y = gelu(x) (erf form), y may equal x.
__attribute__((target("avx512f"))) void gelu_avx512(const float* x, float* y, int64_t n) {
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), rs2 = _mm512_set1_ps(0.70710678118654752f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 e = erf16(_mm512_mul_ps(v, rs2));
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 e = erf16(_mm512_mul_ps(v, rs2));
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
  }
}

// In-place softmax of `rows` rows of length `len` (stride `ld`).
__attribute__((target("avx512f"))) void softmax_rows_avx512(float* x, int64_t rows, int64_t len, int64_t ld) {
  const int64_t full = len / 16 * 16;
  const __mmask16 m = tail_mask(len - full);
  for (int64_t r = 0; r < rows; ++r) {
    float* p = x + r * ld;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < full; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(p + i));
    if (full < len) mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, p + full));
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + i), vmax));
      sum = _mm512_add_ps(sum, e);
      _mm512_storeu_ps(p + i, e);
    }
    if (full < len) {
      const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + full), vmax));
      sum = _mm512_mask_add_ps(sum, m, sum, e);
      _mm512_mask_storeu_ps(p + full, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t i = 0; i < full; i += 16) _mm512_storeu_ps(p + i, _mm512_mul_ps(_mm512_loadu_ps(p + i), inv));
    if (full < len) _mm512_mask_storeu_ps(p + full, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + full), inv));
  }
}

// LayerNorm over rows of length len (two passes in float: mean, then centered variance).
__attribute__((target("avx512f"))) void layernorm_avx512(const float* x, float* y, const float* g, const float* b,
                                                         int64_t rows, int64_t len, float eps) {
  const int64_t full = len / 16 * 16;
  const __mmask16 m = tail_mask(len - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * len;
    float* o = y + r * len;
    __m512 s = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(p + i));
    if (full < len) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, p + full));
    const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / static_cast<float>(len));
    __m512 v = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + i), mean);
      v = _mm512_fmadd_ps(d, d, v);
    }
    if (full < len) {
      const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + full), mean);
      v = _mm512_fmadd_ps(d, d, v);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(_mm512_reduce_add_ps(v) / static_cast<float>(len) + eps));
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p + i), mean), inv);
      _mm512_storeu_ps(o + i, _mm512_fmadd_ps(d, _mm512_loadu_ps(g + i), _mm512_loadu_ps(b + i)));
    }
    if (full < len) {
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + full), mean), inv);
      _mm512_mask_storeu_ps(o + full, m,
                            _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, g + full), _mm512_maskz_loadu_ps(m, b + full)));
    }
  }
}

// The same kernels in portable C++ that GCC vectorizes by itself: exp's round-to-nearest done with
// the 1.5·2^23 trick instead of std::nearbyint (a libm call per element at -march=x86-64), clamps
// as min/max, no early returns; target_clones builds AVX-512, AVX2 and baseline copies and picks one
// at load time. This is the smallest change to src/ir/ops/fast_math.cc that gets most of the gain.
inline float exp_portable_one(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
}

inline float erf_portable_one(float x) {
  x = std::min(std::max(x, -4.0f), 4.0f);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void gelu_portable(const float* __restrict x,
                                                                                float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + erf_portable_one(x[i] * 0.70710678118654752f));
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void softmax_rows_portable(float* x, int64_t rows,
                                                                                       int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict p = x + r * len;
    // Reductions with 16 independent lanes: without -ffast-math GCC keeps a single running max/sum
    // in order (scalar); separate lanes are an explicit, deterministic reassociation it vectorizes.
    float lane[16];
    std::fill_n(lane, 16, -INFINITY);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16)
      for (int j = 0; j < 16; ++j) lane[j] = std::max(lane[j], p[i + j]);
    float mx = -INFINITY;
    for (int j = 0; j < 16; ++j) mx = std::max(mx, lane[j]);
    for (; i < len; ++i) mx = std::max(mx, p[i]);
    for (i = 0; i < len; ++i) p[i] = exp_portable_one(p[i] - mx);
    std::fill_n(lane, 16, 0.0f);
    for (i = 0; i + 16 <= len; i += 16)
      for (int j = 0; j < 16; ++j) lane[j] += p[i + j];
    float sum = 0.0f;
    for (int j = 0; j < 16; ++j) sum += lane[j];
    for (; i < len; ++i) sum += p[i];
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < len; ++i) p[i] *= inv;
  }
}

// Fused multi-head attention from the qkv projection [L, N, 3E] (q | k | v along the last axis,
// heads of size D inside each) to the attention output in the layout the out-projection reads,
// [L·N, E]: for every (n, h), S = scale·Q Kᵀ (strided reads straight out of qkv), softmax rows of S
// in place, O = S V written straight into its columns of the output. One (n, h) per task, BLAS
// single-threaded inside, as qvit's sgemm_batched does for small GEMMs.
void fused_attention(const float* qkv, float* out, int64_t L, int64_t N, int64_t heads, int64_t D, float scale) {
  const int64_t E = heads * D, ld_qkv = N * 3 * E, ld_out = N * E;
  const int threads = num_threads();
  if (threads > 1) openblas_set_num_threads(1);
  parallel_for(N * heads, 1, [&](int64_t b, int64_t e) {
    std::vector<float> s(static_cast<size_t>(L * L));
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / heads, h = t % heads;
      const float* q = qkv + n * 3 * E + h * D;
      const float* k = q + E;
      const float* v = q + 2 * E;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(L), static_cast<blasint>(L),
                  static_cast<blasint>(D), scale, q, static_cast<blasint>(ld_qkv), k, static_cast<blasint>(ld_qkv),
                  0.0f, s.data(), static_cast<blasint>(L));
      softmax_rows_avx512(s.data(), L, L, L);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(L), static_cast<blasint>(D),
                  static_cast<blasint>(L), 1.0f, s.data(), static_cast<blasint>(L), v, static_cast<blasint>(ld_qkv),
                  0.0f, out + n * E + h * D, static_cast<blasint>(ld_out));
    }
  });
  if (threads > 1) openblas_set_num_threads(threads);
}

// ---------------------------------------------------------------------------------------------
// A minimal executor over qvit's Graph (same node order, same kernels by default) whose steps can
// be replaced, and which lets a step take over an input's buffer when that input dies there.

struct StepIO {
  std::vector<const Tensor*> in;
  std::vector<Tensor*> owned;  // non-null where the step may steal input i (it dies here, not a constant/graph input)
  std::vector<Tensor> out;
};
using StepFn = std::function<void(StepIO&)>;

struct Step {
  int node = -1;
  std::vector<int> inputs, outputs;
  StepFn fn;
};

enum class Variant { Replay, Kernels, Attention };

class ProtoExecutor {
 public:
  ProtoExecutor(const Graph& g, Variant v) : g_(g) {
    std::vector<bool> removed(g.nodes.size(), false);
    std::map<int, StepFn> fused;  // node index -> replacement step (fused attention)
    std::map<int, std::vector<int>> fused_inputs;
    if (v == Variant::Attention) plan_attention(removed, fused, fused_inputs);
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      if (removed[n]) continue;
      const Node& node = g.nodes[n];
      Step s;
      s.node = static_cast<int>(n);
      s.outputs = node.outputs;
      if (auto it = fused.find(static_cast<int>(n)); it != fused.end()) {
        s.inputs = fused_inputs[static_cast<int>(n)];
        s.fn = it->second;
      } else {
        s.inputs = node.inputs;
        s.fn = v == Variant::Replay ? default_step(node) : kernel_step(node);
      }
      steps_.push_back(std::move(s));
    }
    // Liveness over the planned steps.
    std::vector<int> last(g.values.size(), -1);
    for (size_t i = 0; i < steps_.size(); ++i)
      for (int in : steps_[i].inputs)
        if (in >= 0) last[in] = static_cast<int>(i);
    for (int o : g.outputs) last[o] = static_cast<int>(steps_.size());
    dies_.assign(steps_.size(), {});
    for (size_t val = 0; val < g.values.size(); ++val)
      if (last[val] >= 0 && last[val] < static_cast<int>(steps_.size()) && !g.is_constant(static_cast<int>(val)))
        dies_[last[val]].push_back(static_cast<int>(val));
  }

  std::vector<Tensor> run(const Tensor& input) const {
    std::vector<Tensor> env(g_.values.size());
    std::vector<const Tensor*> ptr(g_.values.size(), nullptr);
    for (size_t val = 0; val < g_.values.size(); ++val)
      if (g_.values[val].constant) ptr[val] = &*g_.values[val].constant;
    ptr[g_.inputs[0]] = &input;
    StepIO io;
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      io.in.clear();
      io.owned.clear();
      for (int in : s.inputs) {
        io.in.push_back(in >= 0 ? ptr[in] : nullptr);
        const bool dying = in >= 0 && ptr[in] == &env[in] &&
                           std::find(dies_[i].begin(), dies_[i].end(), in) != dies_[i].end() &&
                           std::count(s.inputs.begin(), s.inputs.end(), in) == 1;
        io.owned.push_back(dying ? &env[in] : nullptr);
      }
      io.out.assign(s.outputs.size(), Tensor());
      s.fn(io);
      for (size_t k = 0; k < s.outputs.size(); ++k) {
        if (s.outputs[k] < 0 || !io.out[k].defined()) continue;
        env[s.outputs[k]] = std::move(io.out[k]);
        ptr[s.outputs[k]] = &env[s.outputs[k]];
      }
      for (int val : dies_[i]) {
        env[val] = Tensor();
        ptr[val] = nullptr;
      }
    }
    std::vector<Tensor> result;
    for (int o : g_.outputs) result.push_back(*ptr[o]);
    return result;
  }

  size_t steps() const { return steps_.size(); }
  int fused_blocks() const { return fused_blocks_; }

 private:
  StepFn default_step(const Node& node) const {
    const OpFn fn = find_op(node.op);
    if (!fn) throw Error(node.describe() + ": unsupported op");
    const int64_t opset = g_.opset;
    return [fn, &node, opset](StepIO& io) { fn(OpCall{node, io.in, opset}, io.out); };
  }

  StepFn kernel_step(const Node& node) const {
    const std::string& op = node.op;
    const bool last_axis = node.attr_int("axis", -1) == -1;
    if (op == "Gelu" && node.attr_string("approximate", "none") == "none" && kHaveAvx512) {
      return [](StepIO& io) {
        Tensor y = io.owned[0] ? std::move(*io.owned[0]) : *io.in[0];
        float* p = y.data<float>();
        const int64_t n = y.numel(), chunk = 4096;
        parallel_for((n + chunk - 1) / chunk, 4, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) gelu_avx512(p + k * chunk, p + k * chunk, std::min(chunk, n - k * chunk));
        });
        io.out[0] = std::move(y);
      };
    }
    if (op == "Softmax" && last_axis && kHaveAvx512) {
      return [](StepIO& io) {
        Tensor y = io.owned[0] ? std::move(*io.owned[0]) : *io.in[0];
        const int64_t len = y.dim(-1), rows = y.numel() / std::max<int64_t>(len, 1);
        float* p = y.data<float>();
        parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(len, 1)),
                     [&](int64_t b, int64_t e) { softmax_rows_avx512(p + b * len, e - b, len, len); });
        io.out[0] = std::move(y);
      };
    }
    if ((op == "LayerNorm" || op == "LayerNormalization") && last_axis && node.outputs.size() == 1 && kHaveAvx512) {
      const float eps = node.attr_float("epsilon", 1e-5f);
      return [eps, fallback = default_step(node)](StepIO& io) {
        const Tensor& x = *io.in[0];
        const int64_t len = x.dim(-1);
        if (io.in.size() < 3 || !io.in[2] || io.in[1]->numel() != len || io.in[2]->numel() != len) return fallback(io);
        Tensor y(DType::Float32, x.shape());
        const int64_t rows = x.numel() / std::max<int64_t>(len, 1);
        const float *px = x.data<float>(), *pg = io.in[1]->data<float>(), *pb = io.in[2]->data<float>();
        float* py = y.data<float>();
        parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
          layernorm_avx512(px + b * len, py + b * len, pg, pb, e - b, len, eps);
        });
        io.out[0] = std::move(y);
      };
    }
    if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity") {
      // Same data, new shape: run the op for its shape only when the input can be stolen.
      const int out_value = node.outputs[0];
      return [this, out_value, fallback = default_step(node)](StepIO& io) {
        if (!io.owned[0]) return fallback(io);
        io.out[0] = std::move(*io.owned[0]).reshaped(g_.value(out_value).shape);
      };
    }
    if (op == "Slice") {
      // Contiguous runs copied with memcpy (steps of 1 only; anything else falls back).
      return [fallback = default_step(node), &node, this](StepIO& io) {
        const Tensor& x = *io.in[0];
        const Shape& os = g_.value(node.outputs[0]).shape;
        if (x.dtype() != DType::Float32 || io.in.size() < 3 || (io.in.size() > 4 && io.in[4]) ||
            os.size() != x.shape().size())
          return fallback(io);
        const std::vector<int64_t> starts = io.in[1]->as_int64s();
        std::vector<int64_t> axes;
        if (io.in.size() > 3 && io.in[3]) axes = io.in[3]->as_int64s();
        else
          for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
        const int r = x.rank();
        std::vector<int64_t> st(r, 0);
        for (size_t i = 0; i < axes.size(); ++i) {
          const int a = static_cast<int>(axes[i] < 0 ? axes[i] + r : axes[i]);
          int64_t b = starts[i];
          if (b < 0) b += x.shape()[a];
          st[a] = std::clamp<int64_t>(b, 0, x.shape()[a]);
        }
        // Innermost axis that is sliced: everything inside it is one contiguous run.
        int inner = r - 1;
        while (inner > 0 && os[inner] == x.shape()[inner]) --inner;
        int64_t run = 1;
        for (int a = inner; a < r; ++a) run *= os[a];
        Tensor y(DType::Float32, os);
        const auto xs = strides_of(x.shape());
        const int64_t runs = y.numel() / std::max<int64_t>(run, 1);
        const float* src = x.data<float>();
        float* dst = y.data<float>();
        for (int64_t k = 0; k < runs; ++k) {
          int64_t rem = k, off = st[inner] * xs[inner];
          for (int a = inner - 1; a >= 0; --a) {
            off += (st[a] + rem % os[a]) * xs[a];
            rem /= os[a];
          }
          for (int a = inner + 1; a < r; ++a) off += st[a] * xs[a];
          std::memcpy(dst + k * run, src + off, static_cast<size_t>(run) * sizeof(float));
        }
        io.out[0] = std::move(y);
      };
    }
    return default_step(node);
  }

  // Finds every attention block of torchvision's exported MultiheadAttention:
  //   qkv = Linear(..)[L,N,3E] → Slice×3 → Reshape [L,N·H,D] → Transpose (→ Div for q) →
  //   MatMul(q, kᵀ) → Softmax → MatMul(·, v) → Transpose [L,N·H,D] → Reshape [L·N,E]
  // and replaces the final Reshape by fused_attention(qkv), removing the nodes in between.
  void plan_attention(std::vector<bool>& removed, std::map<int, StepFn>& fused,
                      std::map<int, std::vector<int>>& fused_inputs) {
    const Graph& g = g_;
    std::vector<std::vector<int>> consumers(g.values.size());
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (int in : g.nodes[n].inputs)
        if (in >= 0) consumers[in].push_back(static_cast<int>(n));
    auto producer = [&](int val) { return val >= 0 ? g.value(val).producer : -1; };
    auto op_of = [&](int n) -> std::string { return n >= 0 ? g.nodes[n].op : ""; };
    auto sole_consumer = [&](int val) { return consumers[val].size() == 1 ? consumers[val][0] : -1; };
    for (size_t sm = 0; sm < g.nodes.size(); ++sm) {
      if (g.nodes[sm].op != "Softmax") continue;
      std::vector<int> chain;  // nodes to remove
      const int mm1 = producer(g.nodes[sm].inputs[0]);
      const int mm2 = sole_consumer(g.nodes[sm].outputs[0]);
      if (op_of(mm1) != "MatMul" || op_of(mm2) != "MatMul") continue;
      const int tr_out = sole_consumer(g.nodes[mm2].outputs[0]);
      if (op_of(tr_out) != "Transpose") continue;
      const int rs_out = sole_consumer(g.nodes[tr_out].outputs[0]);
      if (op_of(rs_out) != "Reshape") continue;
      // Walk back from q (through Div, Transpose, Reshape, Slice) to the qkv tensor.
      float scale = 1.0f;
      int qkv = -1;
      bool ok = true;
      std::vector<int> back;
      // `part` 0/1/2 = q/k/v: its Slice must take [part·E, (part+1)·E) of qkv's last axis.
      auto walk = [&](int val, bool allow_div, int64_t part) {
        int n = producer(val);
        if (allow_div && op_of(n) == "Div" && g.is_constant(g.nodes[n].inputs[1]) &&
            g.constant(g.nodes[n].inputs[1]).numel() == 1) {
          scale /= static_cast<float>(g.constant(g.nodes[n].inputs[1]).value_as_double(0));
          back.push_back(n);
          n = producer(g.nodes[n].inputs[0]);
        }
        for (const char* want : {"Transpose", "Reshape", "Slice"}) {
          if (op_of(n) != want) {
            ok = false;
            return;
          }
          back.push_back(n);
          if (std::string(want) == "Slice") {
            const Node& sl = g.nodes[n];
            if (qkv >= 0 && qkv != sl.inputs[0]) ok = false;
            qkv = sl.inputs[0];
            const Shape& full = g.value(qkv).shape;
            const Shape& part_shape = g.value(sl.outputs[0]).shape;
            if (sl.inputs.size() != 4 || !g.is_constant(sl.inputs[1]) || !g.is_constant(sl.inputs[3]) ||
                full.size() != 3 || part_shape.size() != 3) {
              ok = false;
              return;
            }
            const auto starts = g.constant(sl.inputs[1]).as_int64s(), axes = g.constant(sl.inputs[3]).as_int64s();
            if (starts.size() != 1 || axes.size() != 1 || (axes[0] != 2 && axes[0] != -1) ||
                starts[0] != part * (full[2] / 3) || part_shape[2] != full[2] / 3)
              ok = false;
          }
          n = producer(g.nodes[n].inputs[0]);
        }
      };
      walk(g.nodes[mm1].inputs[0], true, 0);
      walk(g.nodes[mm1].inputs[1], false, 1);  // kᵀ: Transpose(Reshape(Slice))
      walk(g.nodes[mm2].inputs[1], false, 2);
      if (!ok || qkv < 0) continue;
      const Shape& qs = g.value(qkv).shape;  // [L, N, 3E]
      const Shape& hs = g.value(g.nodes[mm2].outputs[0]).shape;  // [N·H, L, D]
      if (qs.size() != 3 || hs.size() != 3 || qs[2] % 3 != 0) continue;
      const int64_t L = qs[0], N = qs[1], E = qs[2] / 3, D = hs[2], H = E / D;
      if (hs[0] != N * H || hs[1] != L || H * D != E) continue;
      // Everything between qkv and the final Reshape must be private to this block.
      chain = back;
      chain.insert(chain.end(), {mm1, static_cast<int>(sm), mm2, tr_out});
      bool private_chain = true;
      for (int n : chain)
        for (int o : g.nodes[n].outputs)
          for (int c : consumers[o])
            if (c != rs_out && std::find(chain.begin(), chain.end(), c) == chain.end()) private_chain = false;
      if (!private_chain) continue;
      for (int n : chain) removed[n] = true;
      fused_inputs[rs_out] = {qkv};
      fused[rs_out] = [L, N, H, D, scale, out_shape = g.value(g.nodes[rs_out].outputs[0]).shape](StepIO& io) {
        Tensor y(DType::Float32, out_shape);
        fused_attention(io.in[0]->data<float>(), y.data<float>(), L, N, H, D, scale);
        io.out[0] = std::move(y);
      };
      ++fused_blocks_;
    }
  }

  const Graph& g_;
  std::vector<Step> steps_;
  std::vector<std::vector<int>> dies_;
  int fused_blocks_ = 0;
};

// ---------------------------------------------------------------------------------------------

struct Model {
  int64_t batch = 1;
  Graph graph;
  std::unique_ptr<Executor> qvit;
  std::map<Variant, std::unique_ptr<ProtoExecutor>> proto;
  Tensor input;
};

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double md = 0, mx = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    md = std::max(md, std::abs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    mx = std::max(mx, std::abs(static_cast<double>(a.data<float>()[i])));
  }
  return md / std::max(mx, 1e-12);
}

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::Replay: return "replay";
    case Variant::Kernels: return "kernels";
    case Variant::Attention: return "attention";
  }
  return "?";
}

void register_forward(Model* m, double min_time) {
  auto reg = [&](const std::string& variant, std::function<std::vector<Tensor>()> fwd) {
    const std::string name = "BM_forward/" + variant + "/batch:" + std::to_string(m->batch);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [m, fwd](benchmark::State& state) {
                                   fwd();  // warmup
                                   for (auto _ : state) {
                                     auto out = fwd();
                                     benchmark::DoNotOptimize(out.front().raw());
                                   }
                                   state.SetItemsProcessed(state.iterations() * m->batch);
                                 })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMillisecond);
  };
  reg("qvit", [m] { return m->qvit->run({m->input}); });
  for (auto& [v, ex] : m->proto) reg(variant_name(v), [m, ex = ex.get()] { return ex->run(m->input); });
}

// Kernel micro-benchmarks on DeiT-S-shape tensors at batch B: qvit's op (through find_op) vs proto.
void register_kernels(int64_t B, double min_time) {
  const int64_t L = 197, E = 384, H = 6, D = 64, F = 1536;
  auto add = [&](const std::string& name, std::function<void()> fn) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [fn](benchmark::State& state) {
                                   for (auto _ : state) fn();
                                 })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMicrosecond);
  };
  const std::string suffix = "/batch:" + std::to_string(B);
  // Nodes must outlive the benchmarks: keep them in shared_ptrs captured by the lambdas.
  auto node = [](const std::string& op, std::map<std::string, AttrValue> attrs) {
    auto n = std::make_shared<Node>();
    n->name = "bench_" + op;
    n->op = op;
    n->attrs = std::move(attrs);
    n->outputs = {0};
    return n;
  };
  {  // Softmax [B·H, L, L]
    auto x = std::make_shared<Tensor>(random_tensor({B * H, L, L}));
    for (float& v : x->values<float>()) v *= 4.0f;
    auto n = node("Softmax", {{"axis", int64_t{-1}}});
    add("BM_kernel/Softmax/qvit" + suffix, [x, n] {
      std::vector<Tensor> out(1);
      find_op("Softmax")(OpCall{*n, {x.get()}, 17}, out);
      benchmark::DoNotOptimize(out[0].raw());
    });
    add("BM_kernel/Softmax/portable_copy" + suffix, [x, B, H, L] {
      Tensor y = *x;
      float* p = y.data<float>();
      parallel_for(B * H * L, 40, [&](int64_t b, int64_t e) { softmax_rows_portable(p + b * L, e - b, L); });
      benchmark::DoNotOptimize(y.raw());
    });
    if (kHaveAvx512)
      add("BM_kernel/Softmax/avx512_copy" + suffix, [x, B, H, L] {
        Tensor y = *x;  // same copy the qvit op makes
        float* p = y.data<float>();
        parallel_for(B * H * L, 40, [&](int64_t b, int64_t e) { softmax_rows_avx512(p + b * L, e - b, L, L); });
        benchmark::DoNotOptimize(y.raw());
      });
  }
  {  // Gelu [B, L, F]
    auto x = std::make_shared<Tensor>(random_tensor({B, L, F}));
    for (float& v : x->values<float>()) v *= 3.0f;
    auto n = node("Gelu", {});
    add("BM_kernel/Gelu/qvit" + suffix, [x, n] {
      std::vector<Tensor> out(1);
      find_op("Gelu")(OpCall{*n, {x.get()}, 20}, out);
      benchmark::DoNotOptimize(out[0].raw());
    });
    add("BM_kernel/Gelu/portable" + suffix, [x] {
      Tensor y(DType::Float32, x->shape());
      const float* px = x->data<float>();
      float* py = y.data<float>();
      const int64_t total = x->numel(), chunk = 4096;
      parallel_for((total + chunk - 1) / chunk, 4, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) gelu_portable(px + k * chunk, py + k * chunk, std::min(chunk, total - k * chunk));
      });
      benchmark::DoNotOptimize(y.raw());
    });
    if (kHaveAvx512)
      add("BM_kernel/Gelu/avx512" + suffix, [x] {
        Tensor y(DType::Float32, x->shape());
        const float* px = x->data<float>();
        float* py = y.data<float>();
        const int64_t total = x->numel(), chunk = 4096;
        parallel_for((total + chunk - 1) / chunk, 4, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) gelu_avx512(px + k * chunk, py + k * chunk, std::min(chunk, total - k * chunk));
        });
        benchmark::DoNotOptimize(y.raw());
      });
  }
  {  // LayerNorm [B, L, E]
    auto x = std::make_shared<Tensor>(random_tensor({B, L, E}));
    auto gb = std::make_shared<std::pair<Tensor, Tensor>>(random_tensor({E}, 7), random_tensor({E}, 8));
    auto n = node("LayerNorm", {{"axis", int64_t{-1}}, {"epsilon", 1e-6f}});
    add("BM_kernel/LayerNorm/qvit" + suffix, [x, gb, n] {
      std::vector<Tensor> out(1);
      find_op("LayerNorm")(OpCall{*n, {x.get(), &gb->first, &gb->second}, 17}, out);
      benchmark::DoNotOptimize(out[0].raw());
    });
    if (kHaveAvx512)
      add("BM_kernel/LayerNorm/avx512" + suffix, [x, gb, B, L, E] {
        Tensor y(DType::Float32, x->shape());
        parallel_for(B * L, 40, [&](int64_t b, int64_t e) {
          layernorm_avx512(x->data<float>() + b * E, y.data<float>() + b * E, gb->first.data<float>(),
                           gb->second.data<float>(), e - b, E, 1e-6f);
        });
        benchmark::DoNotOptimize(y.raw());
      });
  }
  if (kHaveAvx512) {  // fused attention, qkv [L, B, 3E] -> [L·B, E]
    auto qkv = std::make_shared<Tensor>(random_tensor({L, B, 3 * E}));
    add("BM_kernel/FusedAttention/proto" + suffix, [qkv, B, L, E, H, D] {
      Tensor y(DType::Float32, {L * B, E});
      fused_attention(qkv->data<float>(), y.data<float>(), L, B, H, D, 0.125f);
      benchmark::DoNotOptimize(y.raw());
    });
  }
  // GEMMs of the four Linear layers (y = x·W, x [B·L, K], W [K, N]).
  for (auto [k, nn] : std::vector<std::pair<int64_t, int64_t>>{{E, 3 * E}, {E, E}, {E, F}, {F, E}}) {
    const int64_t M = B * L;
    auto a = std::make_shared<Tensor>(random_tensor({M, k}, 1));
    auto w = std::make_shared<Tensor>(random_tensor({k, nn}, 2));
    auto c = std::make_shared<Tensor>(DType::Float32, Shape{M, nn});
    const std::string name = "BM_sgemm/" + std::to_string(M) + "x" + std::to_string(nn) + "x" + std::to_string(k);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [a, w, c, M, k, nn](benchmark::State& state) {
                                   openblas_set_num_threads(num_threads());
                                   for (auto _ : state)
                                     cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(M),
                                                 static_cast<blasint>(nn), static_cast<blasint>(k), 1.0f,
                                                 a->data<float>(), static_cast<blasint>(k), w->data<float>(),
                                                 static_cast<blasint>(nn), 0.0f, c->data<float>(),
                                                 static_cast<blasint>(nn));
                                   state.counters["GFLOPs"] = benchmark::Counter(
                                       2.0 * static_cast<double>(M * nn * k) * static_cast<double>(state.iterations()) * 1e-9,
                                       benchmark::Counter::kIsRate);
                                 })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMillisecond);
#ifdef QVIT_BENCH_HAVE_DNNL
    benchmark::RegisterBenchmark(("BM_dnnl_sgemm/" + name.substr(name.find('/') + 1)).c_str(),
                                 [a, w, c, M, k, nn](benchmark::State& state) {
                                   for (auto _ : state)
                                     dnnl_sgemm('N', 'N', M, nn, k, 1.0f, a->data<float>(), k, w->data<float>(), nn,
                                                0.0f, c->data<float>(), nn);
                                   state.counters["GFLOPs"] = benchmark::Counter(
                                       2.0 * static_cast<double>(M * nn * k) * static_cast<double>(state.iterations()) * 1e-9,
                                       benchmark::Counter::kIsRate);
                                 })
        ->UseRealTime()
        ->MeasureProcessCPUTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMillisecond);
#endif
  }
}

// Each prototype kernel against qvit's op on the same random data; max |diff| to stderr.
void check_kernels() {
  Tensor x = random_tensor({6, 197, 197});
  for (float& v : x.values<float>()) v *= 8.0f;
  Node softmax;
  softmax.op = "Softmax";
  softmax.attrs["axis"] = int64_t{-1};
  Node gelu;
  gelu.op = "Gelu";
  std::vector<Tensor> ref_s(1), ref_g(1);
  find_op("Softmax")(OpCall{softmax, {&x}, 17}, ref_s);
  find_op("Gelu")(OpCall{gelu, {&x}, 20}, ref_g);
  auto max_diff = [](const Tensor& a, const Tensor& b) {
    double d = 0;
    for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(double{a.data<float>()[i]} - b.data<float>()[i]));
    return d;
  };
  const int64_t rows = x.numel() / 197;
  Tensor s1 = x, g1(DType::Float32, x.shape());
  softmax_rows_portable(s1.data<float>(), rows, 197);
  gelu_portable(x.data<float>(), g1.data<float>(), x.numel());
  double ds2 = 0, dg2 = 0;
  if (kHaveAvx512) {
    Tensor s2 = x, g2(DType::Float32, x.shape());
    softmax_rows_avx512(s2.data<float>(), rows, 197, 197);
    gelu_avx512(x.data<float>(), g2.data<float>(), x.numel());
    ds2 = max_diff(ref_s[0], s2);
    dg2 = max_diff(ref_g[0], g2);
  }
  std::fprintf(stderr, "kernel check, max |diff| vs qvit: softmax portable %.1e avx512 %.1e, gelu portable %.1e avx512 %.1e\n",
               max_diff(ref_s[0], s1), ds2, max_diff(ref_g[0], g1), dg2);
  if (max_diff(ref_s[0], s1) > 1e-5 || ds2 > 1e-5 || max_diff(ref_g[0], g1) > 1e-4 || dg2 > 1e-4)
    throw Error("a prototype kernel does not match qvit's op");
}

int run(int argc, char** argv) {
  std::string model;
  if (const char* env = std::getenv("QVIT_BENCH_MODEL")) model = env;
  int threads = 2;
  std::vector<int64_t> batches{1, 8};
  double min_time = 2.0;
  if (auto v = take_flag(argc, argv, "model")) model = *v;
  if (auto v = take_flag(argc, argv, "threads")) threads = static_cast<int>(parse_positive(*v, "--threads"));
  if (auto v = take_flag(argc, argv, "batches")) batches = parse_int_list(*v, "--batches");
  if (auto v = take_flag(argc, argv, "min_time")) min_time = std::atof(v->c_str());
  if (model.empty()) throw Error("no model: pass --model=PATH or set QVIT_BENCH_MODEL");
  if (!(min_time > 0)) throw Error("--min_time must be > 0");
  set_num_threads(threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("qvit_model", model);
  benchmark::AddCustomContext("qvit_threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("avx512f", kHaveAvx512 ? "yes" : "no");

  check_kernels();
  std::vector<std::unique_ptr<Model>> models;
  for (int64_t b : batches) {
    auto m = std::make_unique<Model>();
    m->batch = b;
    ImportOptions opts;
    opts.batch = b;
    m->graph = import_onnx(model, opts);
    m->qvit = std::make_unique<Executor>(m->graph);
    m->input = random_tensor(m->graph.value(m->graph.inputs[0]).shape);
    const Tensor ref = m->qvit->run({m->input}).front();
    std::vector<Variant> variants{Variant::Replay};
    if (kHaveAvx512) variants.insert(variants.end(), {Variant::Kernels, Variant::Attention});
    for (Variant v : variants) {
      auto ex = std::make_unique<ProtoExecutor>(m->graph, v);
      const double d = max_rel_diff(ref, ex->run(m->input).front());
      std::fprintf(stderr, "batch %lld %-9s: %zu steps, %d fused attention blocks, max |diff|/max|ref| = %.2e\n",
                   static_cast<long long>(b), variant_name(v), ex->steps(), ex->fused_blocks(), d);
      if (!(d <= 1e-3)) throw Error(std::string("prototype '") + variant_name(v) + "' does not match qvit's output");
      m->proto[v] = std::move(ex);
    }
    models.push_back(std::move(m));
  }
  for (auto& m : models) register_forward(m.get(), min_time);
  for (int64_t b : batches) register_kernels(b, min_time);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace qvit::bench

int main(int argc, char** argv) {
  try {
    return qvit::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qvit_proto_bench: %s\n", e.what());
    return 1;
  }
}
