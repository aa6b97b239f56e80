// Bit-exact golden vectors of the reference kernels: tests/golden/int_kernels/reference_v1.json
// holds inputs, integer params and the outputs the reference kernels produced. This test re-runs
// every case from the stored inputs and params and demands identical outputs, so any change of a
// reference kernel's arithmetic is caught. Regenerate (after an intended change, and say why in
// the commit) with: QVIT_WRITE_GOLDEN=1 qvit_unit_tests --gtest_filter='KernelGolden*'
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/dyadic.h"
#include "kernels/kernel_params.h"
#include "kernels/reference/add.h"
#include "kernels/reference/ibert.h"
#include "kernels/reference/ilayernorm.h"
#include "kernels/reference/int32safe_softmax.h"
#include "kernels/reference/log2_attention.h"
#include "kernels/reference/matmul.h"
#include "kernels/reference/requantize.h"
#include "kernels/reference/shiftgelu.h"
#include "kernels/reference/shiftmax.h"

namespace qvit::kernels {
namespace {

using nlohmann::json;
using Ints = std::vector<int32_t>;

const char* golden_path() { return QVIT_TEST_DIR "/golden/int_kernels/reference_v1.json"; }

// Platform-independent inputs (std distributions differ between standard libraries).
Ints lcg_ints(int32_t count, int32_t lo, int32_t hi, uint32_t seed) {
  Ints v(count);
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = lo + static_cast<int32_t>((s >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
  return v;
}

json rq_json(const Requant& r) { return json::array({r.pre_shift, r.m0, r.post_shift}); }
Requant rq_from(const json& j) { return Requant{j[0], j[1], j[2]}; }
json out_json(const ref::ProbOutput& o) { return json::array({o.format == ref::ProbFormat::kLog2 ? 1 : 0, o.bits}); }
ref::ProbOutput out_from(const json& j) {
  return ref::ProbOutput{j[0].get<int>() == 1 ? ref::ProbFormat::kLog2 : ref::ProbFormat::kUniform, j[1]};
}

// Each kernel: run(case) -> output, reading its params and input from the case.
const std::map<std::string, std::function<Ints(const json&)>>& runners() {
  static const std::map<std::string, std::function<Ints(const json&)>> r = {
      {"matmul",
       [](const json& c) {
         const Ints a = c["a"], b = c["b"], bias = c["bias"];
         Ints out(c["m"].get<int>() * c["n"].get<int>());
         ref::matmul(a.data(), b.data(), bias.data(), out.data(), c["m"], c["k"], c["n"], nullptr);
         return out;
       }},
      {"requantize_per_channel",
       [](const json& c) {
         const Ints in = c["in"];
         std::vector<Requant> rq;
         for (const auto& j : c["rq"]) rq.push_back(rq_from(j));
         Ints out(in.size());
         ref::requantize_per_channel(in.data(), out.data(), static_cast<int32_t>(in.size() / rq.size()),
                                     static_cast<int32_t>(rq.size()), rq.data(), {c["lo"], c["hi"]}, nullptr);
         return out;
       }},
      {"add",
       [](const json& c) {
         const Ints a = c["a"], b = c["b"];
         ref::AddParams p{rq_from(c["rq_a"]), rq_from(c["rq_b"]), c["shift"], {c["lo"], c["hi"]}};
         Ints out(a.size());
         ref::add(a.data(), static_cast<int32_t>(a.size()), b.data(), static_cast<int32_t>(b.size()), out.data(), p,
                  nullptr);
         return out;
       }},
      {"shiftmax",
       [](const json& c) {
         const Ints in = c["in"];
         ref::ShiftmaxParams p{{c["i0"], c["n"]}, out_from(c["output"])};
         Ints out(in.size());
         ref::shiftmax(in.data(), out.data(), static_cast<int32_t>(in.size()) / c["cols"].get<int>(), c["cols"], p,
                       nullptr);
         return out;
       }},
      {"shiftgelu",
       [](const json& c) {
         const Ints in = c["in"];
         ref::ShiftGeluParams p{{c["i0"], c["n"]}, c["sigmoid_bits"]};
         Ints out(in.size());
         ref::shiftgelu(in.data(), out.data(), static_cast<int32_t>(in.size()), p, nullptr);
         return out;
       }},
      {"ilayernorm",
       [](const json& c) {
         const Ints in = c["in"];
         ref::ILayerNormParams p;
         p.input_bits = c["input_bits"];
         p.shift_m = c["shift_m"];
         p.var_eps = c["var_eps"];
         p.gamma = c["gamma"].get<Ints>();
         p.beta = c["beta"].get<Ints>();
         for (const auto& j : c["rq"]) p.rq.push_back(rq_from(j));
         p.range = {c["lo"], c["hi"]};
         Ints out(in.size());
         ref::ilayernorm(in.data(), out.data(), static_cast<int32_t>(in.size() / p.gamma.size()), p, nullptr);
         return out;
       }},
      {"ibert_softmax",
       [](const json& c) {
         const Ints in = c["in"];
         ref::IBertSoftmaxParams p{{c["ln2"], c["b"], c["c"], c["z_max"]}, out_from(c["output"])};
         Ints out(in.size());
         ref::ibert_softmax(in.data(), out.data(), static_cast<int32_t>(in.size()) / c["cols"].get<int>(), c["cols"],
                            p, nullptr);
         return out;
       }},
      {"ibert_gelu",
       [](const json& c) {
         const Ints in = c["in"];
         ref::IBertGeluParams p{{c["clip"], c["one"], c["shift"]}, c["one_shifted"]};
         Ints out(in.size());
         ref::ibert_gelu(in.data(), out.data(), static_cast<int32_t>(in.size()), p, nullptr);
         return out;
       }},
      {"int32safe_softmax",
       [](const json& c) {
         const Ints in = c["in"];
         ref::Int32SafeSoftmaxParams p{{c["ln2"], c["b"], c["c"], c["z_max"]}, c["m_star"]};
         Ints out(in.size());
         ref::int32safe_softmax(in.data(), out.data(), static_cast<int32_t>(in.size()) / c["cols"].get<int>(),
                                c["cols"], p, nullptr);
         return out;
       }},
      {"log2_matmul",
       [](const json& c) {
         const Ints codes = c["codes"], v = c["v"];
         Ints out(c["m"].get<int>() * c["n"].get<int>());
         ref::log2_matmul(codes.data(), v.data(), out.data(), c["m"], c["k"], c["n"],
                          {c["frac_bits"], c["sqrt2"], c["code_bits"]}, nullptr);
         return out;
       }},
  };
  return r;
}

// The cases, built with the lowering-time make_* functions (only when writing the file).
json make_cases() {
  json cases = json::array();
  cases.push_back({{"kernel", "matmul"}, {"m", 3}, {"k", 16}, {"n", 4}, {"a", lcg_ints(48, -255, 255, 1)},
                   {"b", lcg_ints(64, -8, 7, 2)}, {"bias", lcg_ints(4, -5000, 5000, 3)}});
  {
    json rq = json::array();
    for (double m : {2.5e-5, 7.1e-6, 1.3e-4}) rq.push_back(rq_json(make_requant(m, 1 << 24)));
    cases.push_back({{"kernel", "requantize_per_channel"}, {"in", lcg_ints(12, -(1 << 24), 1 << 24, 4)},
                     {"rq", rq}, {"lo", -131}, {"hi", 124}});
  }
  cases.push_back({{"kernel", "add"}, {"a", lcg_ints(24, -128, 127, 5)}, {"b", lcg_ints(8, -128, 127, 6)},
                   {"rq_a", rq_json(make_requant(0.05 / 0.07 * 256, 128))},
                   {"rq_b", rq_json(make_requant(0.013 / 0.07 * 256, 128))}, {"shift", 8}, {"lo", -128}, {"hi", 127}});
  for (const ref::ProbOutput o : {ref::ProbOutput{ref::ProbFormat::kUniform, 8}, ref::ProbOutput{ref::ProbFormat::kLog2, 4}}) {
    const auto p = make_shiftmax_params(1.0 / 16, 15, o);
    Ints in = lcg_ints(3 * 12, -128, 127, 7);
    for (int j = 12; j < 24; ++j) in[j] = 9;  // an all-equal row
    cases.push_back({{"kernel", "shiftmax"}, {"cols", 12}, {"i0", p.exp.i0}, {"n", p.exp.n}, {"output", out_json(o)},
                     {"in", in}});
  }
  {
    const auto p = make_shiftgelu_params(1.0 / 16, 8);
    cases.push_back({{"kernel", "shiftgelu"}, {"i0", p.exp.i0}, {"n", p.exp.n}, {"sigmoid_bits", p.sigmoid_bits},
                     {"in", lcg_ints(32, -128, 127, 8)}});
  }
  {
    const std::vector<float> gamma = {1.0f, 0.5f, -0.7f, 1.3f, 0.0f, 2.0f, 0.9f, 1.1f};
    const std::vector<float> beta = {0.0f, 0.1f, -0.2f, 0.3f, 0.4f, -1.0f, 0.05f, 0.0f};
    const auto p = make_ilayernorm_params(gamma, beta, 1e-6, 0.05, 8, 0.04, ref::centered_range(8, 128), 15);
    json rq = json::array();
    for (const auto& r : p.rq) rq.push_back(rq_json(r));
    cases.push_back({{"kernel", "ilayernorm"}, {"input_bits", p.input_bits}, {"shift_m", p.shift_m},
                     {"var_eps", p.var_eps}, {"gamma", p.gamma}, {"beta", p.beta}, {"rq", rq}, {"lo", p.range.lo},
                     {"hi", p.range.hi}, {"in", lcg_ints(24, -255, 255, 9)}});
  }
  {
    const auto p = make_ibert_softmax_params(1.0 / 64, {ref::ProbFormat::kUniform, 16});
    cases.push_back({{"kernel", "ibert_softmax"}, {"cols", 10}, {"ln2", p.exp.ln2}, {"b", p.exp.b}, {"c", p.exp.c},
                     {"z_max", p.exp.z_max}, {"output", out_json(p.output)}, {"in", lcg_ints(30, -512, 511, 10)}});
  }
  {
    const auto p = make_int32safe_gelu_params(8.0 / 512);
    cases.push_back({{"kernel", "ibert_gelu"}, {"clip", p.erf.clip}, {"one", p.erf.one}, {"shift", p.erf.shift},
                     {"one_shifted", p.one_shifted}, {"in", lcg_ints(32, -511, 511, 11)}});
  }
  {
    const double s = int32safe_softmax_min_input_scale(16);
    const auto p = make_int32safe_softmax_params(s, 16);
    cases.push_back({{"kernel", "int32safe_softmax"}, {"cols", 10}, {"ln2", p.exp.ln2}, {"b", p.exp.b},
                     {"c", p.exp.c}, {"z_max", p.exp.z_max}, {"m_star", p.m_star},
                     {"in", lcg_ints(30, -static_cast<int32_t>(8 / s), 0, 12)}});
  }
  {
    const auto p = make_log2_matmul_params(16, 128, 4);
    cases.push_back({{"kernel", "log2_matmul"}, {"m", 2}, {"k", 16}, {"n", 3}, {"frac_bits", p.frac_bits},
                     {"sqrt2", p.sqrt2}, {"code_bits", p.code_bits}, {"codes", lcg_ints(32, 0, 15, 13)},
                     {"v", lcg_ints(48, -128, 127, 14)}});
  }
  for (auto& c : cases) c["expected"] = runners().at(c["kernel"])(c);
  return cases;
}

TEST(KernelGolden, ReferenceKernelsReproduceStoredOutputsBitForBit) {
  if (std::getenv("QVIT_WRITE_GOLDEN") != nullptr) {
    std::ofstream(golden_path()) << json{{"format", "qvit.int_kernels_golden/1"}, {"cases", make_cases()}}.dump(1)
                                 << "\n";
  }
  std::ifstream in(golden_path());
  ASSERT_TRUE(in) << "missing " << golden_path();
  const json doc = json::parse(in);
  ASSERT_EQ(doc["format"], "qvit.int_kernels_golden/1");
  int checked = 0;
  for (const auto& c : doc["cases"]) {
    const Ints expected = c["expected"];
    EXPECT_EQ(runners().at(c["kernel"])(c), expected) << "golden case " << checked << " (" << c["kernel"] << ")";
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

}  // namespace
}  // namespace qvit::kernels
