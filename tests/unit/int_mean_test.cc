// QMean (intgraph/int_ops.cc): the rounded integer mean over any set of axes equals its definition
// (saturating int32 sums in element order, a saturated sum counted, then div_round) on the row-sum
// path (one contiguous block of axes, no sum can leave int32) and on the element-by-element one.
#include <gtest/gtest.h>

#include <set>

#include "intgraph/int_ops.h"
#include "ir/executor.h"
#include "ir_test_util.h"
#include "kernels/int_math.h"

namespace qvit {
namespace {

// The definition, written out: every output's inputs in increasing flat order.
std::vector<int32_t> mean_by_definition(const Tensor& x, const std::set<int>& axes, int64_t* saturated) {
  const Shape& s = x.shape();
  const int r = x.rank();
  int64_t count = 1, outputs = 1;
  for (int a = 0; a < r; ++a) (axes.count(a) ? count : outputs) *= s[a];
  std::vector<int32_t> sum(outputs, 0);
  std::vector<char> lost(outputs, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0, place = 1;
    for (int a = r - 1; a >= 0; --a) {
      const int64_t idx = rem % s[a];
      rem /= s[a];
      if (!axes.count(a)) o += idx * place, place *= s[a];
    }
    const kernels::Checked32 t = kernels::sat_add(sum[o], x.data<int32_t>()[i]);
    sum[o] = t.value;
    lost[o] = lost[o] || t.lost;
  }
  *saturated = 0;
  for (int64_t o = 0; o < outputs; ++o) {
    *saturated += lost[o];
    sum[o] = kernels::div_round(sum[o], static_cast<int32_t>(count)).value;
  }
  return sum;
}

void expect_mean(const Tensor& x, const std::set<int>& axes) {
  test::GraphBuilder b;
  const int in = b.input("x", x.shape());
  b.g.values[in].dtype = DType::Int32;
  std::vector<int64_t> ax(axes.begin(), axes.end());
  const int y = b.node("QMean", {in}, {{"axes", ax}, {"keepdims", int64_t{0}}}, "mean");
  const Graph g = b.finish({y});
  IntRunStats stats;
  const Tensor got = Executor(g, find_int_op).run({x}, nullptr, &stats).at(0);
  int64_t saturated = 0;
  const std::vector<int32_t> want = mean_by_definition(x, axes, &saturated);
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t o = 0; o < want.size(); ++o) ASSERT_EQ(got.data<int32_t>()[o], want[o]) << "output " << o;
  ASSERT_EQ(stats.per_node.count("mean"), 1u);
  EXPECT_EQ(stats.per_node.at("mean").events, saturated);
  EXPECT_EQ(stats.per_node.at("mean").elements, static_cast<int64_t>(want.size()));
}

TEST(IntMean, EqualsTheDefinitionOnEveryAxisSet) {
  const Tensor x = test::random_ints({3, 5, 7, 4}, -300000, 300000, 11);
  for (std::set<int> axes : std::vector<std::set<int>>{{0}, {1}, {3}, {1, 2}, {2, 3}, {0, 1, 2, 3}, {0, 2}, {1, 3}})
    expect_mean(x, axes);
}

TEST(IntMean, SaturatedSumsKeepTheirElementOrder) {
  // Sums that pass int32 (counted) and come back: the order of the saturating adds decides.
  Tensor x = test::random_ints({2, 6, 3}, -5, 5, 3);
  const int32_t big[] = {INT32_MAX, INT32_MAX, INT32_MIN, 17, INT32_MIN, -1000};
  for (int k = 0; k < 6; ++k) x.data<int32_t>()[(0 * 6 + k) * 3 + 1] = big[k];
  for (std::set<int> axes : std::vector<std::set<int>>{{1}, {1, 2}, {0, 1}}) expect_mean(x, axes);
}

}  // namespace
}  // namespace qvit
