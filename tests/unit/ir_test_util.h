#pragma once
// Helpers for building small IR graphs directly in tests (no ONNX involved).
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/executor.h"
#include "ir/graph.h"

namespace qvit::test {

inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::Float32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (auto& v : t.values<float>()) v = d(rng);
  return t;
}

// Int32 tensor of uniform values in [lo, hi].
inline Tensor random_ints(Shape shape, int32_t lo, int32_t hi, uint32_t seed) {
  Tensor t(DType::Int32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  for (auto& v : t.values<int32_t>()) v = d(rng);
  return t;
}

// An IntGraph requantizer table of one row {pre_shift, m0, post_shift}.
inline Tensor requant_table(int32_t pre, int32_t m0, int32_t post) {
  Tensor t(DType::Int32, {1, 3});
  t.data<int32_t>()[0] = pre;
  t.data<int32_t>()[1] = m0;
  t.data<int32_t>()[2] = post;
  return t;
}

// The clamp attributes of a QRequantize over the last axis.
inline std::map<std::string, AttrValue> clamp_attrs(int64_t lo, int64_t hi) {
  return {{"lo", lo}, {"hi", hi}, {"axis", int64_t{-1}}};
}

// A 1-D int64 tensor (shapes, axes, slice bounds).
inline Tensor int64s(std::vector<int64_t> v) {
  Tensor t(DType::Int64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

struct GraphBuilder {
  Graph g;
  int input(const std::string& name, Shape shape) {
    Value v;
    v.name = name;
    v.shape = std::move(shape);
    int id = g.add_value(std::move(v));
    g.inputs.push_back(id);
    return id;
  }
  int constant(const std::string& name, Tensor t) { return g.add_constant(name, std::move(t)); }
  int node(const std::string& op, std::vector<int> inputs, std::map<std::string, AttrValue> attrs = {},
           const std::string& name = "") {
    Node n;
    n.op = op;
    n.name = name.empty() ? op + "_" + std::to_string(g.nodes.size()) : name;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    Value v;
    v.name = n.name + ":0";
    int out = g.add_value(std::move(v));
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
    return out;
  }
  Graph finish(std::vector<int> outputs) {
    g.outputs = std::move(outputs);
    g.opset = 17;
    g.source = "test";
    g.rebuild_index();
    return std::move(g);
  }
};

inline Tensor run1(const Graph& g, std::vector<Tensor> inputs) { return Executor(g).run(std::move(inputs)).at(0); }

}  // namespace qvit::test
