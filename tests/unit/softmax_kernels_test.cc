// Optimized integer softmax kernels (kernels/softmax_kernels.h) against the reference kernels, on
// every kernel path this CPU supports: outputs and truncation counts must be identical.
#include "kernels/softmax_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/int_math.h"
#include "kernels/kernel_params.h"
#include "kernels/kernel_path.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace qvit::kernels {
namespace {

template <class P>
using SoftmaxFn = void (*)(const int32_t*, int32_t*, int32_t, int32_t, const P&, TruncationStats*);

const std::vector<int32_t> kCols = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 197, 3072};

// Index of the first difference (a.size() if none); a and b have the same size.
size_t first_mismatch(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  return i;
}

// Every supported path (ref included: the dispatcher's ref path) gives the reference's outputs and
// stats, out of place and in place. Returns the reference's truncation events.
template <class P>
uint64_t expect_paths_match(SoftmaxFn<P> ref_fn, SoftmaxFn<P> fn, const P& p, const std::vector<int32_t>& x,
                            int32_t cols, const std::string& what) {
  const int32_t rows = static_cast<int32_t>(x.size()) / cols;
  std::vector<int32_t> want(x.size());
  TruncationStats want_stats;
  ref_fn(x.data(), want.data(), rows, cols, p, &want_stats);
  for (KernelPath path : supported_kernel_paths()) {
    ScopedKernelPath scoped(path);
    std::vector<int32_t> got(x.size(), 0x5a5a5a5a);
    TruncationStats got_stats;
    fn(x.data(), got.data(), rows, cols, p, &got_stats);
    std::vector<int32_t> in_place = x;
    fn(in_place.data(), in_place.data(), rows, cols, p, nullptr);
    const size_t bad = first_mismatch(got, want), bad_in_place = first_mismatch(in_place, want);
    EXPECT_EQ(bad, x.size()) << what << " path " << kernel_path_name(path) << " cols " << cols << " row " << bad / cols
                             << " col " << bad % cols << ": x " << x[bad] << " got " << got[bad] << " want " << want[bad];
    EXPECT_EQ(bad_in_place, x.size()) << what << " in place, path " << kernel_path_name(path) << " cols " << cols;
    EXPECT_EQ(got_stats.events, want_stats.events) << what << " path " << kernel_path_name(path) << " cols " << cols;
    EXPECT_EQ(got_stats.elements, want_stats.elements) << what << " path " << kernel_path_name(path);
  }
  return want_stats.events;
}

// Rows of `cols` logits covering the kernels' corner cases: random at several scales (up to the
// whole int32 range), +-max codes of 2..8-bit inputs, all-equal rows, one huge logit.
std::vector<int32_t> stress_rows(int32_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> v;
  auto random_row = [&](int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> d(lo, hi);
    for (int32_t j = 0; j < cols; ++j) v.push_back(d(rng));
  };
  for (int32_t span : {1, 7, 127, 1000, 1 << 16, 1 << 24, 1 << 30}) random_row(-span, span);
  random_row(kInt32Min, kInt32Max);
  random_row(kInt32Min, kInt32Min + 1000);
  for (int32_t bits = 2; bits <= 8; ++bits) {
    const int32_t hi = (1 << (bits - 1)) - 1;
    for (int32_t j = 0; j < cols; ++j) v.push_back(rng() % 2 ? hi : -hi - 1);
  }
  for (int32_t c : {0, -5, kInt32Max, kInt32Min}) v.insert(v.end(), cols, c);
  const size_t huge_at = v.size();
  random_row(-100, 100);
  v[huge_at + cols / 2] = kInt32Max;  // one huge logit
  const size_t tiny_at = v.size();
  v.insert(v.end(), cols, kInt32Min);
  v[tiny_at + cols - 1] = kInt32Max;  // a row spanning all of int32: the centering saturates
  const size_t low_at = v.size();
  random_row(-100, 100);
  v[low_at] = kInt32Min;  // one hugely negative logit
  return v;
}

// Runs `check(x, cols)` on the stress rows of every column count, and on their first 1 and 3 rows.
template <class Check>
void for_stress_inputs(uint32_t seed, const Check& check) {
  for (int32_t cols : kCols) {
    const std::vector<int32_t> x = stress_rows(cols, seed + cols);
    check(x, cols);
    check(std::vector<int32_t>(x.begin(), x.begin() + cols), cols);
    check(std::vector<int32_t>(x.begin() + 2 * cols, x.begin() + 5 * cols), cols);
  }
}

std::vector<ref::ProbOutput> all_outputs() {
  std::vector<ref::ProbOutput> outs;
  for (int32_t b : {2, 3, 4, 5, 6, 7, 8, 16, 31}) outs.push_back({ref::ProbFormat::kUniform, b});
  for (int32_t b : {1, 2, 3, 4, 5, 6, 7, 8, 16}) outs.push_back({ref::ProbFormat::kLog2, b});
  return outs;
}

TEST(SoftmaxKernels, ShiftmaxMatchesReferenceOnEveryPath) {
  std::vector<ref::ShiftmaxParams> params;
  // Power-of-2 scales give an exactly representable 1/I0; the others exercise the kernels' float
  // estimate of the quotient Ip / I0 and its correction.
  for (double s : {1.0, 1.0 / 16, 1.0 / 64, 1.0 / 1024, 0.0123, 1.0 / 300})
    for (const ref::ProbOutput& o : all_outputs()) params.push_back(make_shiftmax_params(s, 15, o));
  params.push_back(make_shiftmax_params(3.7e-5, 15, {ref::ProbFormat::kUniform, 16}));
  params.push_back({{-77, 15}, {ref::ProbFormat::kUniform, 16}});
  params.push_back({{-(1 << 30) + 1, 2}, {ref::ProbFormat::kLog2, 8}});
  // Exps that saturate (bits(|I0|) + n > 31), the extreme I0 / n pairs (n I0 = -2^31), n = 0.
  params.push_back({{-1024, 30}, {ref::ProbFormat::kUniform, 8}});
  params.push_back({{-(1 << 30), 2}, {ref::ProbFormat::kUniform, 16}});
  params.push_back({{-(1 << 30), 1}, {ref::ProbFormat::kLog2, 4}});
  params.push_back({{-1, 30}, {ref::ProbFormat::kUniform, 31}});
  params.push_back({{-3, 30}, {ref::ProbFormat::kLog2, 16}});
  params.push_back({{-77, 0}, {ref::ProbFormat::kUniform, 8}});
  uint64_t events = 0, saturating_events = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    for_stress_inputs(10 + k, [&](const std::vector<int32_t>& x, int32_t cols) {
      const uint64_t e = expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, params[k], x, cols,
                                                                 "shiftmax params " + std::to_string(k));
      events += e;
      if (params[k].exp.n == 30 && params[k].exp.i0 == -1024) saturating_events += e;
    });
  }
  EXPECT_GT(events, 0u);
  EXPECT_GT(saturating_events, 0u);
}

TEST(SoftmaxKernels, IBertSoftmaxMatchesReferenceOnEveryPath) {
  std::vector<ref::IBertSoftmaxParams> params;
  for (double s : {1.0 / 8, 1.0 / 16, 1.0 / 64, 1.0 / 4096, 1.0 / 20000})
    for (const ref::ProbOutput& o : all_outputs()) params.push_back(make_ibert_softmax_params(s, o));
  for (int32_t z_max : {0, 1, 7}) {
    ref::IBertSoftmaxParams p = make_ibert_softmax_params(1.0 / 32, {ref::ProbFormat::kUniform, 8});
    p.exp.z_max = z_max;
    params.push_back(p);
  }
  // Hand-made constants: every exp 0 (row sum 0), t = p + b negative (b < ln2), t^2 and t^2 + c past
  // int32, the largest ln2.
  params.push_back({{1, 0, 0, 30}, {ref::ProbFormat::kUniform, 8}});
  params.push_back({{1000, 3, 7, 30}, {ref::ProbFormat::kLog2, 4}});
  params.push_back({{100000, 50000, kInt32Max - 5, 30}, {ref::ProbFormat::kUniform, 16}});
  params.push_back({{1 << 30, 1 << 30, kInt32Max, 1}, {ref::ProbFormat::kUniform, 8}});
  params.push_back({{kInt32Max, 46340, 0, 1}, {ref::ProbFormat::kLog2, 8}});
  // t = b at the row max: t^2 just fits (46340) or just does not (46341).
  params.push_back({{1000, 46340, 0, 30}, {ref::ProbFormat::kUniform, 16}});
  params.push_back({{1000, 46341, 0, 30}, {ref::ProbFormat::kUniform, 16}});
  uint64_t events = 0, saturated_sum_events = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    for_stress_inputs(20 + k, [&](const std::vector<int32_t>& x, int32_t cols) {
      const uint64_t e = expect_paths_match<ref::IBertSoftmaxParams>(ref::ibert_softmax, kernels::ibert_softmax,
                                                                     params[k], x, cols, "ibert params " + std::to_string(k));
      events += e;
      if (k == 3 * all_outputs().size() && cols == 197) saturated_sum_events += e;  // S = 2^-12, 197 columns
    });
  }
  EXPECT_GT(events, 0u);
  EXPECT_GT(saturated_sum_events, 0u);
}

TEST(SoftmaxKernels, Int32SafeSoftmaxMatchesReferenceOnEveryPath) {
  std::vector<ref::Int32SafeSoftmaxParams> params;
  for (int32_t m_star : {2, 4, 8, 12, 16, 20, 24}) {
    const double s_min = int32safe_softmax_min_input_scale(m_star);
    for (double f : {1.0, 3.0}) params.push_back(make_int32safe_softmax_params(s_min * f, m_star));
  }
  // M* below the sum shift (e >> (s - M*)), e_max past int32 (every element counts), tiny exps.
  params.push_back({{100, 46000, 100000, 30}, 3});
  params.push_back({{100, 50000, 0, 30}, 16});
  params.push_back({{1 << 20, 1 << 20, kInt32Max, 2}, 30});
  params.push_back({{7, 2, 0, 30}, 1});
  params.push_back({{3, 1, 1, 30}, 30});
  uint64_t events = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    for_stress_inputs(30 + k, [&](const std::vector<int32_t>& x, int32_t cols) {
      events += expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax,
                                                                params[k], x, cols, "int32safe params " + std::to_string(k));
    });
  }
  EXPECT_GT(events, 0u);
}

// Logits at the kernels' int32 boundaries, relative to a row max of 0: i + (i >> 1) just fitting or
// not (Shiftmax), t = p + b at +-46340 / +-46341 (i-exp), and their neighbours.
TEST(SoftmaxKernels, ExpBoundariesMatchReferenceOnEveryPath) {
  std::vector<int32_t> row = {0, -1431655765, -1431655766, -1431655764, kInt32Min, kInt32Min + 1};
  for (int32_t d = -3; d <= 3; ++d) {
    row.push_back(-46340 + d);
    row.push_back(-46341 + d);
    row.push_back(-96341 + d);
  }
  const int32_t cols = static_cast<int32_t>(row.size());
  // Two-column rows spanning just up to and just past what the kernels' unchecked exps accept.
  const std::vector<int32_t> spans = {0,         -1431655765, 0,         -1431655766, 7,  7 - 1431655765,
                                      kInt32Max, -1,          kInt32Max, -2,          -1, kInt32Max};
  for (const ref::ShiftmaxParams& p : std::vector<ref::ShiftmaxParams>{
           {{-64, 15}, {ref::ProbFormat::kUniform, 16}}, {{-64, 1}, {ref::ProbFormat::kUniform, 31}},
           {{-65537, 15}, {ref::ProbFormat::kUniform, 16}}})
    expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, p, spans, 2, "shiftmax spans");
  // i-exp constants whose largest t^2 + c is 2^31 - 1 (nothing saturates) or 2^31 (the row max does).
  for (const ref::IExpParams& e : std::vector<ref::IExpParams>{{44, 87, 3930, 30},
                                                               {1000, 46341, 0, 30},
                                                               {1000, 46340, kInt32Max - 46340 * 46340, 30},
                                                               {1000, 46340, kInt32Max - 46340 * 46340 + 1, 30}})
    expect_paths_match<ref::IBertSoftmaxParams>(ref::ibert_softmax, kernels::ibert_softmax,
                                                {e, {ref::ProbFormat::kUniform, 16}}, spans, 2, "ibert spans");
  for (const ref::ShiftmaxParams& p : std::vector<ref::ShiftmaxParams>{
           {{-1, 30}, {ref::ProbFormat::kUniform, 16}}, {{-5, 28}, {ref::ProbFormat::kUniform, 16}},
           {{-46341, 15}, {ref::ProbFormat::kLog2, 8}}, {{-(1 << 30), 2}, {ref::ProbFormat::kUniform, 31}}})
    expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, p, row, cols, "shiftmax boundary");
  for (const ref::IExpParams& e : std::vector<ref::IExpParams>{
           {50000, 0, 0, 30}, {50000, 3, 5, 30}, {100000, 46341, 0, 30}, {100000, 46340, kInt32Max - 46340 * 46340, 30}}) {
    expect_paths_match<ref::IBertSoftmaxParams>(ref::ibert_softmax, kernels::ibert_softmax,
                                                {e, {ref::ProbFormat::kUniform, 16}}, row, cols, "ibert boundary");
    expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax, {e, 8}, row,
                                                    cols, "int32safe boundary");
  }
}

// Logits (row max 0) whose shift-exp quotient Ip / I0 is an integer k in [0, n] or near one, Ip =
// i + (i >> 1) - (i >> 4) ~ 1.4375 i: where the kernels' float estimate of the quotient may be off.
std::vector<int32_t> shift_exp_quotient_edges(const ref::ShiftExpParams& e) {
  std::vector<int32_t> v = {0};
  for (int32_t k = 0; k <= e.n; ++k)
    for (int32_t d = -3; d <= 3; ++d) {
      const int64_t guess = std::llround((static_cast<double>(k) * e.i0 + d) / 1.4375);
      for (int64_t i = guess - 4; i <= guess + 4; ++i)
        if (i <= 0 && i >= kInt32Min) v.push_back(static_cast<int32_t>(i));
    }
  return v;
}

// Logits (row max 0) at and next to the i-exp's multiples -k ln2, k in [0, z_max].
std::vector<int32_t> iexp_quotient_edges(const ref::IExpParams& e) {
  std::vector<int32_t> v = {0};
  for (int32_t k = 0; k <= e.z_max; ++k)
    for (int32_t d = -3; d <= 3; ++d) {
      const int64_t i = -(static_cast<int64_t>(k) * e.ln2 + d);
      if (i <= 0 && i >= kInt32Min) v.push_back(static_cast<int32_t>(i));
    }
  return v;
}

TEST(SoftmaxKernels, QuotientEdgesMatchReferenceOnEveryPath) {
  for (int32_t i0 : {-3, -7, -41, -77, -1000, -46341, -1000003, -(1 << 20) - 7}) {
    for (int32_t n : {1, 15, 30}) {
      const ref::ShiftExpParams e{i0, std::min(n, static_cast<int32_t>(kInt32Max / -i0))};
      const std::vector<int32_t> row = shift_exp_quotient_edges(e);
      expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, {e, {ref::ProbFormat::kUniform, 31}},
                                              row, static_cast<int32_t>(row.size()), "shiftmax quotient edges");
    }
  }
  const ref::ShiftExpParams widest{-(1 << 30) + 1, 2};
  const std::vector<int32_t> wide_row = shift_exp_quotient_edges(widest);
  expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, {widest, {ref::ProbFormat::kLog2, 16}},
                                          wide_row, static_cast<int32_t>(wide_row.size()), "shiftmax quotient edges");
  for (int32_t ln2 : {3, 7, 11, 41, 44, 77, 2839, 123457, 424628, 1000003, (1 << 30) - 1}) {
    const ref::IExpParams e{ln2, ln2 * 2 > 50000 ? 50000 : ln2 * 2, 5, std::min(30, kInt32Max / ln2)};
    const std::vector<int32_t> row = iexp_quotient_edges(e);
    const int32_t cols = static_cast<int32_t>(row.size());
    expect_paths_match<ref::IBertSoftmaxParams>(ref::ibert_softmax, kernels::ibert_softmax,
                                                {e, {ref::ProbFormat::kUniform, 31}}, row, cols, "ibert quotient edges");
    expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax, {e, 30}, row,
                                                    cols, "int32safe quotient edges");
  }
}

// Small exp values (ln2 beyond the row span: z = 0, e = (b + x - max)^2 + c) make the int32-safe
// division hit exact quotients and rounding ties, where a float estimate of the quotient is most
// likely off: e.g. e = {121, 49, 25, 1}, M* = 1 gives 98 / 196 = 0.5, rounded away to 1.
TEST(SoftmaxKernels, Int32SafeDivisionTiesMatchReferenceOnEveryPath) {
  expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax,
                                                  {{1000, 11, 0, 30}, 1}, {0, -4, -6, -10}, 4, "int32safe tie");
  std::mt19937 rng(9);
  for (int32_t trial = 0; trial < 3000; ++trial) {
    const int32_t b = 1 + static_cast<int32_t>(rng() % 200);
    const ref::Int32SafeSoftmaxParams p{{1000, b, static_cast<int32_t>(rng() % 100), 30},
                                        1 + static_cast<int32_t>(rng() % 30)};
    const int32_t cols = 1 + static_cast<int32_t>(rng() % 20);
    std::vector<int32_t> x(cols);
    for (auto& v : x) v = -static_cast<int32_t>(rng() % (b + 1));
    expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax, p, x, cols,
                                                    "int32safe small exps, trial " + std::to_string(trial));
    if (HasFailure()) break;
  }
}

// Attention-sized calls (12 heads x 197 queries x 197 keys) at realistic scales, with 1 and 2
// threads: the row chunks must not change outputs or counts.
TEST(SoftmaxKernels, AttentionShapeIsThreadCountIndependent) {
  const int32_t cols = 197, rows = 12 * 197;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> d(-600, 100);  // logits in [-9.4, 1.6] at S = 1/64
  std::vector<int32_t> x(static_cast<size_t>(rows) * cols);
  for (auto& v : x) v = d(rng);
  const double s = 1.0 / 64;
  const ref::ShiftmaxParams sp = make_shiftmax_params(s, 15, {ref::ProbFormat::kUniform, 8});
  const ref::IBertSoftmaxParams ip = make_ibert_softmax_params(s, {ref::ProbFormat::kLog2, 4});
  const double s16 = int32safe_softmax_min_input_scale(16);
  std::vector<int32_t> x16(x.size());
  for (size_t i = 0; i < x.size(); ++i) x16[i] = static_cast<int32_t>(x[i] * s / s16);
  const ref::Int32SafeSoftmaxParams qp = make_int32safe_softmax_params(s16, 16);
  const int before = num_threads();
  uint64_t events = 0;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const std::string t = " threads " + std::to_string(threads);
    events += expect_paths_match<ref::ShiftmaxParams>(ref::shiftmax, kernels::shiftmax, sp, x, cols, "shiftmax" + t);
    expect_paths_match<ref::IBertSoftmaxParams>(ref::ibert_softmax, kernels::ibert_softmax, ip, x, cols, "ibert" + t);
    expect_paths_match<ref::Int32SafeSoftmaxParams>(ref::int32safe_softmax, kernels::int32safe_softmax, qp, x16, cols,
                                                    "int32safe" + t);
  }
  set_num_threads(before);
  EXPECT_GT(events, 0u);  // 8-bit Shiftmax output: small probabilities round to 0 and count
}

TEST(SoftmaxKernels, EmptyShapesAndBadParametersBehaveAsTheReference) {
  const ref::ShiftmaxParams sp = make_shiftmax_params(1.0 / 16);
  for (KernelPath path : supported_kernel_paths()) {
    ScopedKernelPath scoped(path);
    TruncationStats stats;
    kernels::shiftmax(nullptr, nullptr, 0, 197, sp, &stats);
    kernels::ibert_softmax(nullptr, nullptr, 3, 0, make_ibert_softmax_params(1.0 / 16), &stats);
    EXPECT_EQ(stats.events, 0u);
    EXPECT_EQ(stats.elements, 0u);
    int32_t x = 0, y = 0;
    ref::ShiftmaxParams bad = sp;
    bad.output.bits = 1;
    EXPECT_THROW(kernels::shiftmax(&x, &y, 1, 1, bad, nullptr), Error);
    ref::IBertSoftmaxParams bad_exp = make_ibert_softmax_params(1.0 / 16);
    bad_exp.exp.ln2 = 0;
    EXPECT_THROW(kernels::ibert_softmax(&x, &y, 1, 1, bad_exp, nullptr), Error);
    ref::Int32SafeSoftmaxParams bad_m = make_int32safe_softmax_params(int32safe_softmax_min_input_scale(16), 16);
    bad_m.m_star = 31;
    EXPECT_THROW(kernels::int32safe_softmax(&x, &y, 1, 1, bad_m, nullptr), Error);
    EXPECT_ANY_THROW(kernels::shiftmax(&x, &y, -1, 1, sp, nullptr));
  }
}

}  // namespace
}  // namespace qvit::kernels
