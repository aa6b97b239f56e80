#include "eval/kernel_bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <random>

#include "ir/graph.h"
#include "ir/op_registry.h"
#include "kernels/eltwise_kernels.h"
#include "kernels/kernel_params.h"
#include "kernels/kernel_path.h"
#include "kernels/softmax_kernels.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {

namespace ref = kernels::ref;

// Median ms per call of fn over repetitions filling about `seconds` (at least 5).
double time_ms(const std::function<void()>& fn, double seconds) {
  fn();  // warm-up (pool threads, page faults)
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  while (ms.size() < 5 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

std::vector<int32_t> codes(int64_t n, int32_t lo, int32_t hi, uint32_t seed) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  for (auto& x : v) x = d(rng);
  return v;
}

Tensor floats(const Shape& s, float scale, uint32_t seed) {
  Tensor t(DType::Float32, s);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// The float op set's kernel for `op` on `inputs`, output allocated by the op, as the executor calls it.
struct FloatOp {
  Node node;
  std::vector<Tensor> inputs;
  OpFn fn;
  void run() const {
    OpCall c{node, {}, 17};
    for (const Tensor& t : inputs) c.in.push_back(&t);
    std::vector<Tensor> out(1);
    fn(c, out);
  }
};

FloatOp float_op(const std::string& op, std::vector<Tensor> inputs, std::map<std::string, AttrValue> attrs = {}) {
  FloatOp f;
  f.node.name = "bench";
  f.node.op = op;
  f.node.attrs = std::move(attrs);
  f.inputs = std::move(inputs);
  f.fn = find_op(op);
  return f;
}

}  // namespace

std::vector<KernelTiming> bench_kernels(double seconds) {
  std::vector<KernelTiming> out;
  const double per_side = std::max(0.05, seconds / 2);
  for (int64_t batch : {int64_t{1}, int64_t{16}}) {
    // Softmax over attention logits: [batch·12·197, 197]; integer input = Q·Kᵀ requantized to the
    // softmax input scale (8-bit-ish logits at S = 1/16, |x| ≤ 2^11).
    {
      const int64_t rows = batch * 12 * 197, cols = 197;
      const std::vector<int32_t> x = codes(rows * cols, -2048, 2047, 1);
      const double s = 1.0 / 16;
      const FloatOp f = float_op("Softmax", {floats({batch, 12, 197, 197}, 3.0f, 2)}, {{"axis", int64_t{-1}}});
      const double f_ms = time_ms([&] { f.run(); }, per_side);
      const std::string shape = std::to_string(batch) + "x12x197x197";
      auto add = [&](const std::string& name, const std::function<void(int32_t*)>& k) {
        // A fresh output per call, as the float op allocates its own (same page faults).
        const double i_ms = time_ms([&] { std::unique_ptr<int32_t[]> y(new int32_t[x.size()]); k(y.get()); }, per_side);
        out.push_back({name, "softmax_f32", shape, batch, i_ms, f_ms});
      };
      const auto r32 = static_cast<int32_t>(rows), c32 = static_cast<int32_t>(cols);
      const ref::Int32SafeSoftmaxParams safe =
          kernels::make_int32safe_softmax_params(std::max(s, kernels::int32safe_softmax_min_input_scale(19)), 19);
      add("int32safe_softmax", [&](int32_t* y) { kernels::int32safe_softmax(x.data(), y, r32, c32, safe, nullptr); });
      const ref::ShiftmaxParams shift = kernels::make_shiftmax_params(s, 15, {});
      add("shiftmax", [&](int32_t* y) { kernels::shiftmax(x.data(), y, r32, c32, shift, nullptr); });
      const ref::IBertSoftmaxParams poly = kernels::make_ibert_softmax_params(s, {});
      add("ibert_softmax", [&](int32_t* y) { kernels::ibert_softmax(x.data(), y, r32, c32, poly, nullptr); });
    }
    // GELU over the MLP hidden layer: [batch·197, 3072].
    {
      const int64_t n = batch * 197 * 3072;
      const FloatOp f = float_op("Gelu", {floats({batch, 197, 3072}, 1.5f, 3)});
      const double f_ms = time_ms([&] { f.run(); }, per_side);
      const std::string shape = std::to_string(batch) + "x197x3072";
      auto add = [&](const std::string& name, const std::vector<int32_t>& x, const std::function<void(const int32_t*, int32_t*)>& k) {
        const double i_ms = time_ms([&] { std::unique_ptr<int32_t[]> y(new int32_t[x.size()]); k(x.data(), y.get()); }, per_side);
        out.push_back({name, "gelu_f32", shape, batch, i_ms, f_ms});
      };
      const auto n32 = static_cast<int32_t>(n);
      const double s = 8.0 / 511;  // the int32-safe GELU's 10-bit input: |q| ≤ 511 over ±8
      const std::vector<int32_t> x10 = codes(n, -511, 511, 4);
      const ref::IBertGeluParams safe = kernels::make_int32safe_gelu_params(s);
      add("int32safe_gelu", x10, [&](const int32_t* x, int32_t* y) { kernels::ibert_gelu(x, y, n32, safe, nullptr); });
      const std::vector<int32_t> x8 = codes(n, -128, 127, 5);
      const ref::ShiftGeluParams shift = kernels::make_shiftgelu_params(8.0 / 128);
      add("shiftgelu", x8, [&](const int32_t* x, int32_t* y) { kernels::shiftgelu(x, y, n32, shift, nullptr); });
      const ref::IBertGeluParams poly = kernels::make_ibert_gelu_params(8.0 / 128);
      add("ibert_gelu", x8, [&](const int32_t* x, int32_t* y) { kernels::ibert_gelu(x, y, n32, poly, nullptr); });
    }
    // LayerNorm over the residual stream: [batch·197, 768], 8-bit input codes.
    {
      const int64_t rows = batch * 197, c = 768;
      std::vector<float> gamma(c), beta(c);
      std::mt19937 rng(6);
      std::normal_distribution<float> d(1.0f, 0.2f);
      for (int64_t i = 0; i < c; ++i) gamma[i] = d(rng), beta[i] = d(rng) - 1.0f;
      const FloatOp f = float_op("LayerNormalization",
                                 {floats({batch, 197, c}, 2.0f, 7), Tensor::from_vector<float>({c}, gamma), Tensor::from_vector<float>({c}, beta)},
                                 {{"axis", int64_t{-1}}, {"epsilon", 1e-6f}});
      const double f_ms = time_ms([&] { f.run(); }, per_side);
      const std::vector<int32_t> x = codes(rows * c, -128, 127, 8);
      const ref::ILayerNormParams p =
          kernels::make_ilayernorm_params(gamma, beta, 1e-6, 4.0 / 128, 8, 6.0 / 128, {-128, 127}, 15);
      const double i_ms = time_ms(
          [&] {
            std::unique_ptr<int32_t[]> y(new int32_t[x.size()]);
            kernels::ilayernorm(x.data(), y.get(), static_cast<int32_t>(rows), p, nullptr);
          },
          per_side);
      out.push_back({"ilayernorm", "layernorm_f32", std::to_string(batch) + "x197x768", batch, i_ms, f_ms});
    }
  }
  return out;
}

nlohmann::json kernel_timings_json(const std::vector<KernelTiming>& t) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& k : t)
    j.push_back({{"kernel", k.kernel},
                 {"float_kernel", k.float_kernel},
                 {"shape", k.shape},
                 {"batch", k.batch},
                 {"integer_ms", k.integer_ms},
                 {"float_ms", k.float_ms},
                 {"float_over_integer", k.integer_ms > 0 ? k.float_ms / k.integer_ms : 0.0}});
  return {{"kernels", j},
          {"path", kernels::kernel_path_name(kernels::active_kernel_path())},
          {"threads", num_threads()}};
}

}  // namespace qvit
