// Gradient rules against finite differences: for every op with a rule, a one-node graph on random
// inputs, the loss L = ⟨v, y⟩ for a random v, and the directional derivative of L along random
// directions u of all activation inputs: ⟨∇L, u⟩ from the reverse pass against central
// differences with Richardson extrapolation ((4·D(h/2) − D(h))/3, error O(h⁴)). The forward
// kernels are float32 only (the IR's op set), so the differences are formed and accumulated in
// double from float32 evaluations; piecewise-linear ops (ReLU, MaxPool) use inputs kept away
// from their kinks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "grad/reverse_pass.h"
#include "ir/executor.h"
#include "ir_test_util.h"

namespace qvit {
namespace {

struct In {
  Shape shape;
  bool activation = true;  // else a constant (weights, shapes, indices)
  Tensor value = {};       // fixed value (constants like shapes and indices); random when undefined
  float lo = -1, hi = 1;   // range of random values
  float min_abs = 0;       // random values with |v| >= min_abs (away from kinks)
};

struct Case {
  std::string op;
  std::vector<In> inputs;
  std::map<std::string, AttrValue> attrs = {};
  size_t outputs = 1;
  std::string label = "";
  double h = 1e-2;
};

Tensor ints(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }

std::vector<Case> cases() {
  using V = std::vector<int64_t>;
  const In x234{{2, 3, 4}}, x23{{2, 3}};
  std::vector<Case> c;
  c.push_back({"Linear", {x234, {{4, 5}, false}, {{5}, false}}});
  c.push_back({"MatMul", {x234, {{4, 5}}}, {}, 1, "activations"});
  c.push_back({"MatMul", {{{2, 1, 3, 4}}, {{3, 4, 2}}}, {}, 1, "broadcast batch"});
  c.push_back({"MatMul", {{{4}}, {{2, 4, 3}}}, {}, 1, "vector"});
  c.push_back({"MatMul", {x234, {{4, 5}, false}}, {}, 1, "constant B"});
  c.push_back({"Conv", {{{1, 2, 5, 5}}, {{4, 2, 3, 3}, false}, {{4}, false}}, {{"pads", V{1, 1, 1, 1}}, {"strides", V{2, 1}}}});
  c.push_back({"Conv", {{{2, 2, 7}}, {{4, 1, 3}, false}}, {{"pads", V{1, 2}}, {"dilations", V{2}}, {"group", int64_t{2}}}, 1, "1-D grouped"});
  for (const char* op : {"Add", "Sub", "Mul"}) {
    c.push_back({op, {x23, {{3}}}});
    c.push_back({op, {{{2, 1, 4}}, {{3, 1}}}, {}, 1, "both broadcast"});
    c.push_back({op, {x23, {{3}, false}}, {}, 1, "constant"});
  }
  c.push_back({"Div", {x23, {{3}, true, {}, 0.5f, 1.5f}}});
  c.push_back({"Div", {{{2, 1, 4}}, {{3, 1}, true, {}, 0.5f, 1.5f}}, {}, 1, "both broadcast"});
  c.push_back({"Relu", {{{2, 3, 4}, true, {}, -1, 1, 0.1f}}});
  c.push_back({"Gelu", {{{2, 3, 4}, true, {}, -3, 3}}});
  c.push_back({"Gelu", {{{2, 3, 4}, true, {}, -3, 3}}, {{"approximate", std::string("tanh")}}, 1, "tanh"});
  for (const char* op : {"Sigmoid", "Tanh", "Erf", "Neg", "Identity", "Dropout"}) c.push_back({op, {x234}});
  c.push_back({"Softmax", {{{2, 3, 5}, true, {}, -3, 3}}});
  c.push_back({"Softmax", {{{2, 3, 5}, true, {}, -3, 3}}, {{"axis", int64_t{1}}}, 1, "inner axis"});
  c.push_back({"LayerNorm", {x234, {{4}, false, {}, 0.5f, 1.5f}, {{4}, false}}, {{"epsilon", 1e-5f}}});
  c.push_back({"LayerNormalization", {x234, {{3, 4}, false, {}, 0.5f, 1.5f}, {{3, 4}, false}}, {{"axis", int64_t{1}}}, 1, "axis 1"});
  c.push_back({"MaxPool", {{{1, 2, 4, 4}}}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}, 1, "", 1e-4});
  c.push_back({"MaxPool", {{{1, 2, 7}}}, {{"kernel_shape", V{3}}, {"pads", V{1, 1}}}, 1, "1-D overlapping", 1e-4});
  c.push_back({"GlobalAveragePool", {{{2, 3, 2, 2}}}});
  c.push_back({"ReduceMean", {x234}, {{"axes", V{1}}, {"keepdims", int64_t{0}}}});
  c.push_back({"ReduceSum", {x234, {{1}, false, ints({-1})}}});
  c.push_back({"Reshape", {x234, {{2}, false, ints({4, -1})}}});
  c.push_back({"Flatten", {x234}, {{"axis", int64_t{1}}}});
  c.push_back({"Squeeze", {{{2, 1, 3}}, {{1}, false, ints({1})}}});
  c.push_back({"Unsqueeze", {x23, {{2}, false, ints({0, 3})}}});
  c.push_back({"Transpose", {x234}, {{"perm", V{2, 0, 1}}}});
  c.push_back({"Slice", {{{4, 5}}, {{2}, false, ints({3, 0})}, {{2}, false, ints({0, 5})}, {{2}, false, ints({0, 1})},
                         {{2}, false, ints({-1, 2})}}});
  c.push_back({"Gather", {{{4, 3}}, {{3}, false, ints({0, 2, 0})}}, {{"axis", int64_t{0}}}, 1, "repeated index"});
  c.push_back({"Gather", {{{2, 4, 3}}, {{}, false, Tensor::scalar<int64_t>(1)}}, {{"axis", int64_t{1}}}, 1, "scalar index"});
  c.push_back({"Concat", {x23, {{2, 1}, false}, {{2, 2}}}, {{"axis", int64_t{1}}}});
  c.push_back({"Split", {{{4, 6}}, {{2}, false, ints({2, 4})}}, {{"axis", int64_t{1}}}, 2});
  c.push_back({"Pad", {x23, {{4}, false, ints({1, 0, 0, 2})}, {{}, false, Tensor::scalar(1.5f)}}});
  c.push_back({"Expand", {{{3, 1}}, {{3}, false, ints({2, 3, 4})}}});
  c.push_back({"Tile", {x23, {{2}, false, ints({2, 1})}}});
  return c;
}

Tensor random_input(const In& in, std::mt19937& rng) {
  Tensor t(DType::Float32, in.shape);
  std::uniform_real_distribution<float> d(in.lo, in.hi);
  for (float& v : t.values<float>()) {
    do v = d(rng);
    while (std::fabs(v) < in.min_abs);
  }
  return t;
}

struct Built {
  Graph graph;
  std::vector<Tensor> inputs;     // graph inputs (activations), in order
  std::vector<int> input_ids;
};

Built build(const Case& k, std::mt19937& rng, size_t output) {
  test::GraphBuilder b;
  Built r;
  std::vector<int> ids;
  for (size_t i = 0; i < k.inputs.size(); ++i) {
    const In& in = k.inputs[i];
    Tensor v = in.value.defined() ? in.value : random_input(in, rng);
    if (in.activation) {
      const int id = b.input("x" + std::to_string(i), in.shape);
      ids.push_back(id);
      r.inputs.push_back(v);
      r.input_ids.push_back(id);
    } else {
      ids.push_back(b.constant("c" + std::to_string(i), v));
    }
  }
  b.node(k.op, ids, k.attrs, "node");
  Node& n = b.g.nodes.back();
  for (size_t o = 1; o < k.outputs; ++o) {
    Value v;
    v.name = "node:" + std::to_string(o);
    n.outputs.push_back(b.g.add_value(std::move(v)));
  }
  r.graph = b.finish({n.outputs[output]});
  return r;
}

double loss(const Graph& g, const std::vector<Tensor>& inputs, const Tensor& v) {
  const Tensor y = Executor(g).run(inputs).at(0);
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += double{y.data<float>()[i]} * v.data<float>()[i];
  return s;
}

double directional_fd(const Graph& g, const std::vector<Tensor>& x, const std::vector<Tensor>& u, const Tensor& v, double h) {
  auto at = [&](double t) {
    std::vector<Tensor> p = x;
    for (size_t i = 0; i < p.size(); ++i)
      for (int64_t e = 0; e < p[i].numel(); ++e)
        p[i].data<float>()[e] = static_cast<float>(x[i].data<float>()[e] + t * u[i].data<float>()[e]);
    return loss(g, p, v);
  };
  auto d = [&](double step) { return (at(step) - at(-step)) / (2 * step); };
  return (4 * d(h / 2) - d(h)) / 3;
}

std::string describe(const Case& k) { return k.op + (k.label.empty() ? "" : " (" + k.label + ")"); }

// ⟨∇L, u⟩ from the reverse pass against the finite difference, for output `out` of case `k`.
void check_directional(const Case& k, std::mt19937& rng, size_t out) {
  Built b = build(k, rng, out);
  ReversePass pass(b.graph, {vjp_rule});
  const ReversePass::Tape tape = pass.forward(b.inputs);
  const Tensor& y = tape.values[static_cast<size_t>(b.graph.outputs[0])];
  const Tensor v = test::random_tensor(y.shape(), static_cast<uint32_t>(rng()));
  const std::vector<Tensor> grads = pass.backward(tape, vjp_rule, 0, v, b.input_ids);
  std::vector<Tensor> u;
  double analytic = 0;
  for (size_t i = 0; i < b.inputs.size(); ++i) {
    u.push_back(test::random_tensor(b.inputs[i].shape(), static_cast<uint32_t>(rng())));
    ASSERT_TRUE(grads[i].defined()) << "no gradient reached input " << i;
    ASSERT_EQ(grads[i].shape(), b.inputs[i].shape());
    for (int64_t e = 0; e < u[i].numel(); ++e) analytic += double{grads[i].data<float>()[e]} * u[i].data<float>()[e];
  }
  const double fd = directional_fd(b.graph, b.inputs, u, v, k.h);
  EXPECT_NEAR(analytic, fd, 2e-3 * std::max(1.0, std::fabs(fd))) << describe(k);
}

TEST(GradVjp, MatchesFiniteDifferences) {
  std::mt19937 rng(11);
  for (const Case& k : cases())
    for (size_t out = 0; out < k.outputs; ++out)
      for (int trial = 0; trial < 3; ++trial) {
        SCOPED_TRACE(describe(k) + " output " + std::to_string(out) + " trial " + std::to_string(trial));
        check_directional(k, rng, out);
      }
}

// The same check on random shapes: ranks, sizes, broadcast patterns and attributes drawn per trial.
std::vector<Case> random_shape_cases(std::mt19937& rng) {
  using V = std::vector<int64_t>;
  auto d = [&](int lo, int hi) { return static_cast<int64_t>(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::vector<Case> c;
  const int64_t b = d(1, 3), m = d(1, 6), k = d(1, 7), n = d(1, 6), h = d(1, 3);
  c.push_back({"Linear", {{{b, m, k}}, {{k, n}, false}, {{n}, false}}});
  c.push_back({"MatMul", {{{b, h, m, k}}, {{b, h, k, n}}}});
  c.push_back({"MatMul", {{{b, 1, m, k}}, {{h, k, n}}}, {}, 1, "broadcast"});
  c.push_back({"Softmax", {{{b, h, m, n}, true, {}, -4, 4}}, {{"axis", int64_t{d(-4, 3)}}}});
  c.push_back({"LayerNorm", {{{b, m, k}}, {{k}, false, {}, 0.5f, 1.5f}, {{k}, false}}});
  c.push_back({"Gelu", {{{b, m, k}, true, {}, -3, 3}}});
  c.push_back({"Add", {{{b, m, k}}, {{m, 1}}}});
  c.push_back({"Mul", {{{b, 1, k}}, {{m, 1}}}});
  const int64_t kh = d(1, 3), kw = d(1, 3), c_in = d(1, 3), c_out = d(1, 4);
  c.push_back({"Conv", {{{b, c_in, kh + d(0, 4), kw + d(0, 4)}}, {{c_out, c_in, kh, kw}, false}},
               {{"strides", V{d(1, 2), d(1, 2)}}, {"pads", V{d(0, 1), d(0, 1), d(0, 1), d(0, 1)}}}});
  V perm = {0, 1, 2, 3};
  std::shuffle(perm.begin(), perm.end(), rng);
  c.push_back({"Transpose", {{{b, h, m, k}}}, {{"perm", perm}}});
  c.push_back({"Concat", {{{b, m, k}}, {{b, d(1, 3), k}}}, {{"axis", int64_t{1}}}});
  c.push_back({"Slice", {{{b, m + 2, k}}, {{1}, false, ints({d(0, 1)})}, {{1}, false, ints({m + 1})}, {{1}, false, ints({1})},
                         {{1}, false, ints({d(1, 2)})}}});
  return c;
}

TEST(GradVjp, MatchesFiniteDifferencesOnRandomShapes) {
  std::mt19937 rng(23);
  for (int round = 0; round < 25; ++round)
    for (const Case& k : random_shape_cases(rng)) {
      SCOPED_TRACE(describe(k) + " round " + std::to_string(round));
      check_directional(k, rng, 0);
    }
}

TEST(GradVjp, EveryRuleHasACase) {
  std::set<std::string> tested;
  for (const Case& k : cases()) tested.insert(k.op);
  for (const std::string& op : vjp_ops()) EXPECT_TRUE(tested.count(op)) << op << " has a gradient rule but no test case";
}

TEST(GradVjp, UnsupportedOpIsAClearError) {
  test::GraphBuilder b;
  const int x = b.input("x", {2, 3});
  const int y = b.node("Exp", {x}, {}, "my_exp");
  Graph g = b.finish({y});
  try {
    ReversePass pass(g, {vjp_rule});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("my_exp"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no backward rule"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qvit
