// The runtime's storage plan (intgraph/int_storage.h): which values become uint8 codes, and that
// a graph run with the plan gives the reference's integer outputs bit for bit.
#include "intgraph/int_storage.h"

#include <gtest/gtest.h>

#include <random>

#include "intgraph/int_matmul.h"
#include "intgraph/int_ops.h"
#include "ir/executor.h"
#include "ir_test_util.h"
#include "kernels/kernel_path.h"

namespace qvit {
namespace {

Tensor ints(Shape shape, int32_t lo, int32_t hi, uint32_t seed) { return test::random_ints(std::move(shape), lo, hi, seed); }

using test::requant_table;

std::map<std::string, AttrValue> clamp(int64_t lo, int64_t hi) { return test::clamp_attrs(lo, hi); }

Tensor shape_const(std::vector<int64_t> dims) { return test::int64s(std::move(dims)); }

// x[2,6,8] → QRequantize (asymmetric 8-bit) → Transpose/Reshape → QMatMul with a weight: coded.
// The same requantized value also feeding a QAdd elsewhere: not coded. A 9-bit grid: not coded.
// Attention-like products of two coded operands, Q·Kᵀ per image (the int8 GEMM on a per-call
// packed B with an offset), on x and on a larger input.
struct Fixture {
  Graph g;
  int coded = -1, moved = -1, shared = -1, wide = -1, out_read = -1;
};

Fixture build() {
  test::GraphBuilder b;
  const int x = b.input("x", {2, 6, 8});
  b.g.values[x].dtype = DType::Int32;
  const int rq = b.constant("rq", requant_table(4, 1 << 20, 18));
  Fixture f;
  f.coded = b.node("QRequantize", {x, rq}, clamp(-20, 235), "coded");
  f.moved = b.node("Transpose", {f.coded}, {{"perm", std::vector<int64_t>{0, 2, 1}}}, "moved");
  const int flat = b.node("Reshape", {f.moved, b.constant("shape", shape_const({16, 6}))}, {}, "flat");
  const int w = b.constant("w", ints({6, 5}, -127, 127, 3));
  const int y1 = b.node("QMatMul", {flat, w}, {}, "mm1");
  f.shared = b.node("QRequantize", {x, rq}, clamp(-128, 127), "shared");
  const int y2 = b.node("QMatMul", {f.shared, b.constant("w2", ints({8, 4}, -127, 127, 4))}, {}, "mm2");
  const int add_rq = b.constant("add_rq", [] {
    Tensor t(DType::Int32, {2, 3});
    for (int i = 0; i < 2; ++i) t.data<int32_t>()[3 * i] = 0, t.data<int32_t>()[3 * i + 1] = 1 << 30, t.data<int32_t>()[3 * i + 2] = 30;
    return t;
  }());
  const int y3 = b.node("QAdd", {f.shared, f.shared, add_rq}, {{"shift", int64_t{0}}, {"lo", int64_t{-128}}, {"hi", int64_t{127}}}, "add");
  f.wide = b.node("QRequantize", {x, rq}, clamp(-256, 255), "wide");
  const int y4 = b.node("QMatMul", {f.wide, b.constant("w3", ints({8, 3}, -127, 127, 5))}, {}, "mm3");
  f.out_read = b.node("QRequantize", {x, rq}, clamp(0, 255), "output");
  std::vector<int> outs = {y1, y2, y3, y4, f.out_read};
  const int big = b.input("big", {2, 40, 64});
  b.g.values[big].dtype = DType::Int32;
  for (int in : {x, big}) {
    const std::string tag = in == x ? "small" : "big";
    const int q = b.node("QRequantize", {in, rq}, clamp(0, 255), "q_" + tag);
    const int k = b.node("QRequantize", {in, rq}, clamp(-100, 155), "k_" + tag);
    const int kt = b.node("Transpose", {k}, {{"perm", std::vector<int64_t>{0, 2, 1}}}, "kt_" + tag);
    outs.push_back(b.node("QMatMul", {q, kt}, {}, "qk_" + tag));
  }
  f.g = b.finish(outs);
  return f;
}

TEST(IntStorage, CodesOnlyWhereEveryReaderIsAQMatMulOperand) {
  const Fixture f = build();
  const CodeStorage plan = plan_code_storage(f.g);
  ASSERT_EQ(plan.size(), f.g.values.size());
  EXPECT_EQ(plan[f.coded], -20);
  EXPECT_EQ(plan[f.moved], -20) << "data movement of codes stays codes";
  EXPECT_FALSE(plan[f.shared]) << "also read by a QAdd";
  EXPECT_FALSE(plan[f.wide]) << "a 9-bit grid does not fit uint8";
  EXPECT_FALSE(plan[f.out_read]) << "a graph output";
  for (const Node& n : f.g.nodes)
    if (n.name.rfind("qk_", 0) == 0) {
      EXPECT_TRUE(plan[n.inputs[0]]) << n.name << ": Q as codes";
      EXPECT_TRUE(plan[n.inputs[1]]) << n.name << ": Kᵀ as codes";
    }
}

TEST(IntStorage, PlannedRunEqualsTheReferenceOnEveryPath) {
  const Fixture f = build();
  const Tensor x = ints({2, 6, 8}, -(1 << 20), 1 << 20, 9), big = ints({2, 40, 64}, -(1 << 20), 1 << 20, 10);
  std::vector<Tensor> want;
  {
    kernels::ScopedKernelPath ref(kernels::KernelPath::Ref);
    want = Executor(f.g, find_int_op, int_node_preparer()).run({x, big});
  }
  for (kernels::KernelPath p : kernels::supported_kernel_paths()) {
    kernels::ScopedKernelPath scoped(p);
    IntRunStats stats;
    const std::vector<Tensor> got = Executor(f.g, find_int_op, int_node_preparer(plan_code_storage(f.g))).run({x, big}, nullptr, &stats);
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) {
      ASSERT_EQ(got[o].dtype(), DType::Int32) << "outputs are never codes";
      ASSERT_EQ(got[o].shape(), want[o].shape());
      for (int64_t i = 0; i < got[o].numel(); ++i)
        ASSERT_EQ(got[o].data<int32_t>()[i], want[o].data<int32_t>()[i]) << kernels::kernel_path_name(p) << " output " << o;
    }
  }
}

}  // namespace
}  // namespace qvit
