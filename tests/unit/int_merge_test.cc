// Merging nodes that compute the same value (intgraph/int_merge.h): which merge, and that the merged
// graph computes the same outputs as the graph as lowered.
#include "intgraph/int_merge.h"

#include <gtest/gtest.h>

#include "intgraph/int_ops.h"
#include "ir/executor.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

using test::clamp_attrs;
using test::int64s;
using test::requant_table;

// x → three QRequantize of x with equal tables (one a separate constant of the same content) and
// clamps, each read by its own Slice (torchvision's q, k, v); one more with another clamp and one
// with another table: those stay. One duplicate is a graph output: it stays too.
Graph build() {
  test::GraphBuilder b;
  const int x = b.input("x", {2, 12});
  b.g.values[x].dtype = DType::Int32;
  const int rq = b.constant("rq", requant_table(2, 1 << 29, 28));
  const int rq_copy = b.constant("rq_copy", requant_table(2, 1 << 29, 28));
  const int rq_other = b.constant("rq_other", requant_table(2, 1 << 29, 27));
  const int a = b.node("QRequantize", {x, rq}, clamp_attrs(-128, 127), "settle_q");
  const int k = b.node("QRequantize", {x, rq}, clamp_attrs(-128, 127), "settle_k");
  const int v = b.node("QRequantize", {x, rq_copy}, clamp_attrs(-128, 127), "settle_v");
  const int other_clamp = b.node("QRequantize", {x, rq}, clamp_attrs(-100, 100), "other_clamp");
  const int other_table = b.node("QRequantize", {x, rq_other}, clamp_attrs(-128, 127), "other_table");
  const int as_output = b.node("QRequantize", {x, rq}, clamp_attrs(-128, 127), "as_output");
  std::vector<int> outs;
  int part = 0;
  for (int in : {a, k, v, other_clamp, other_table}) {
    outs.push_back(b.node("Slice", {in, b.constant("s" + std::to_string(part), int64s({4 * (part % 3)})),
                                    b.constant("e" + std::to_string(part), int64s({4 * (part % 3) + 4})),
                                    b.constant("ax" + std::to_string(part), int64s({1}))},
                          {}, "slice" + std::to_string(part)));
    ++part;
  }
  outs.push_back(as_output);
  return b.finish(outs);
}

TEST(IntMerge, MergesEqualNodesOnlyAndKeepsTheOutputs) {
  Graph g = build();
  const Graph original = build();
  const auto merged = merge_duplicate_nodes(g);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0], std::make_pair(std::string("settle_k"), std::string("settle_q")));
  EXPECT_EQ(merged[1], std::make_pair(std::string("settle_v"), std::string("settle_q")))
      << "a table of equal content in another constant is the same table";
  EXPECT_EQ(g.nodes.size(), original.nodes.size() - 2);
  for (const Node& n : g.nodes) EXPECT_NE(n.name, "settle_k");

  const Tensor x = test::random_ints({2, 12}, -100000, 100000, 7);
  const std::vector<Tensor> want = Executor(original, find_int_op).run({x});
  const std::vector<Tensor> got = Executor(g, find_int_op).run({x});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape());
    for (int64_t e = 0; e < want[i].numel(); ++e) ASSERT_EQ(got[i].data<int32_t>()[e], want[i].data<int32_t>()[e]) << i;
  }
  EXPECT_TRUE(merge_duplicate_nodes(g).empty()) << "nothing left to merge";
}

}  // namespace
}  // namespace qvit
