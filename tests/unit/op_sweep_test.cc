// Hostile-input sweep of every float op: from each op's valid call (tests/fuzz/op_cases.h) a generator
// derives rank-0 inputs, empty tensors (a 0 dim, and [0, 2^31, 2^31] whose partial products
// overflow), every element type, extreme values (NaN, ±inf, INT_MIN / -1), hostile shape lists,
// omitted inputs, and attributes of the wrong length, value or type. Each case runs as a one-node
// ONNX model through import_onnx_bytes (inputs as initializers, so constant folding runs the op;
// with input 0 as a graph input, then an Executor run; and with input 0's leading dim dynamic,
// imported at batch 5) and directly on the IR at several opsets. Every run must succeed or throw qvit::Error: any other exception fails the test, and a
// crash or sanitizer report ends it. Set QVIT_SWEEP_TRACE=1 to print each case before it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <typeinfo>

#include "ir/executor.h"
#include "ir/fold.h"
#include "ir/op_registry.h"
#include "onnx/onnx_import.h"
#include "onnx/onnx_synth.h"
#include "fuzz/op_cases.h"
#include "util/limits.h"

namespace qvit {
namespace {

using sweep::AttrKind;
using sweep::OpEntry;
using sweep::Role;

constexpr int64_t kBig = int64_t{1} << 31;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
const DType kTypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::Int8, DType::UInt8, DType::Bool};

struct Case {
  std::string what;
  std::vector<Tensor> inputs;  // undefined: omitted
  std::map<std::string, AttrValue> attrs;
};

// A tensor of `shape` and type `t` with every element `v` (converted as the type can hold it).
Tensor filled(DType t, const Shape& shape, double v) {
  Tensor x(t, shape);
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T e{};
    if constexpr (std::is_same_v<T, bool>) e = v != 0;
    else if constexpr (std::is_floating_point_v<T>) e = static_cast<T>(v);
    else e = v <= double(std::numeric_limits<T>::lowest()) ? std::numeric_limits<T>::lowest()
             : v >= double(std::numeric_limits<T>::max()) ? std::numeric_limits<T>::max() : static_cast<T>(v);
    for (auto& y : x.values<T>()) y = e;
    return 0;
  });
  return x;
}

// `t` in type `to`, with in-range values (the base values are small).
Tensor as_type(const Tensor& t, DType to) { return t.cast(to); }

std::vector<Case> generate(const OpEntry& e) {
  std::vector<Case> cases;
  std::vector<Tensor> base;
  for (const auto& in : e.inputs) base.push_back(in.base);
  auto add = [&](std::string what, std::vector<Tensor> inputs, std::map<std::string, AttrValue> attrs) {
    cases.push_back({std::move(what), std::move(inputs), std::move(attrs)});
  };
  auto with_input = [&](size_t k, Tensor t) {
    std::vector<Tensor> v = base;
    v[k] = std::move(t);
    return v;
  };
  add("base", base, e.attrs);
  for (size_t k = 0; k < base.size(); ++k) {
    const Tensor& b = base[k];
    const std::string in = "input " + std::to_string(k) + " ";
    add(in + "rank 0", with_input(k, filled(b.dtype(), {}, b.numel() ? b.value_as_double(0) : 1)), e.attrs);
    for (const Shape& s : {Shape{0}, Shape{2, 0}, Shape{0, kBig, kBig}, Shape{kBig, 0, kBig}, Shape{1, 1, 1, 2, 2}, Shape{1}})
      add(in + "shape " + shape_str(s), with_input(k, filled(b.dtype(), s, 1)), e.attrs);
    if (b.rank() >= 1) {
      Shape s = b.shape();
      s.back() = 0;
      add(in + "empty last axis " + shape_str(s), with_input(k, Tensor(b.dtype(), s)), e.attrs);
      s = b.shape();
      s.insert(s.begin(), 1);
      add(in + "extra axis " + shape_str(s), with_input(k, b.reshaped(s)), e.attrs);
    }
    for (DType t : kTypes)
      if (t != b.dtype()) add(in + "as " + dtype_name(t), with_input(k, as_type(b, t)), e.attrs);
    add(in + "omitted", with_input(k, Tensor()), e.attrs);
    for (double v : {std::nan(""), HUGE_VAL, -HUGE_VAL, 0.0, -1.0, 1e300, -1e300})
      add(in + "filled " + std::to_string(v), with_input(k, filled(b.dtype(), b.shape(), v)), e.attrs);
    if (e.inputs[k].role == Role::Ints) {
      for (int64_t v : {kMin, -kBig, int64_t{-2}, int64_t{-1}, int64_t{0}, kBig, kMax}) {
        std::vector<int64_t> all = b.as_int64s(), first = all;
        std::fill(all.begin(), all.end(), v);
        if (!first.empty()) first[0] = v;
        add(in + "all " + std::to_string(v), with_input(k, sweep::ints(all)), e.attrs);
        add(in + "first " + std::to_string(v), with_input(k, sweep::ints(first)), e.attrs);
      }
      std::vector<int64_t> longer = b.as_int64s();
      longer.push_back(1);
      add(in + "one entry more", with_input(k, sweep::ints(longer)), e.attrs);
      add(in + "nine entries", with_input(k, sweep::ints(std::vector<int64_t>(9, 1))), e.attrs);
    }
    if (e.inputs[k].role == Role::Scalar)
      for (DType t : kTypes)
        for (double v : {std::nan(""), HUGE_VAL, 1e30, -1e30, 0.0, -1.0})
          add(in + dtype_name(t) + " scalar " + std::to_string(v), with_input(k, filled(t, {}, v)), e.attrs);
  }
  // All inputs at once: scalars, empties, one type (with INT_MIN / -1 for the integer ones).
  auto all = [&](auto make) {
    std::vector<Tensor> v;
    for (size_t k = 0; k < base.size(); ++k) v.push_back(make(k));
    return v;
  };
  add("all rank 0", all([&](size_t k) { return filled(base[k].dtype(), {}, 1); }), e.attrs);
  add("all empty", all([&](size_t k) { return Tensor(base[k].dtype(), {0}); }), e.attrs);
  add("all huge-empty", all([&](size_t k) { return Tensor(base[k].dtype(), {0, kBig, kBig}); }), e.attrs);
  for (DType t : kTypes) {
    add(std::string("all ") + dtype_name(t), all([&](size_t k) { return as_type(base[k], t); }), e.attrs);
    add(std::string("all ") + dtype_name(t) + " min / -1",
        all([&](size_t k) { return filled(t, base[k].shape(), k == 0 ? -1e300 : -1.0); }), e.attrs);
  }
  // Attributes: removed, wrong type, hostile values, wrong list lengths.
  for (const auto& [name, kind] : e.sweep_attrs) {
    auto with_attr = [&](AttrValue v) {
      auto a = e.attrs;
      a[name] = std::move(v);
      return a;
    };
    const std::string at = "attr " + name + " ";
    auto removed = e.attrs;
    removed.erase(name);
    add(at + "removed", base, removed);
    add(at + "as string", base, with_attr(std::string("x")));
    add(at + "as float", base, with_attr(1.5f));
    add(at + "as ints", base, with_attr(std::vector<int64_t>{1, 1}));
    if (kind == AttrKind::Int || kind == AttrKind::Ints) {
      for (int64_t v : {kMin, -kBig, int64_t{-5}, int64_t{-2}, int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{2}, int64_t{5}, kBig, kMax}) {
        if (kind == AttrKind::Int) {
          add(at + std::to_string(v), base, with_attr(v));
          continue;
        }
        size_t n = 2;
        if (auto it = e.attrs.find(name); it != e.attrs.end())
          if (auto* l = std::get_if<std::vector<int64_t>>(&it->second)) n = l->size();
        add(at + "all " + std::to_string(v), base, with_attr(std::vector<int64_t>(n, v)));
        std::vector<int64_t> one(n, 1);
        if (n) one.back() = v;
        add(at + "last " + std::to_string(v), base, with_attr(one));
      }
      if (kind == AttrKind::Ints)
        for (size_t n : {0, 1, 2, 3, 4, 5, 7}) add(at + std::to_string(n) + " entries", base, with_attr(std::vector<int64_t>(n, 1)));
    } else if (kind == AttrKind::Float) {
      for (float v : {std::nanf(""), HUGE_VALF, -HUGE_VALF, 0.0f, -1.0f, 1e30f}) add(at + std::to_string(v), base, with_attr(v));
    } else {
      for (const char* v : {"", "BOGUS", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "add", "mul", "tanh", "reflect"})
        add(at + "'" + v + "'", base, with_attr(std::string(v)));
    }
  }
  return cases;
}

// A case with several mutations at once (single mutations are generate()'s): each input kept,
// reshaped, retyped, refilled or omitted, each swept attribute kept, removed or set hostile.
// Deterministic in `rng`; QVIT_SWEEP_RANDOM sets how many per entry (see the test below).
Case random_case(const OpEntry& e, std::mt19937_64& rng, int index) {
  static const int64_t kInts[] = {kMin, -kBig, -7, -2, -1, 0, 1, 2, 3, 7, kBig, kMax};
  static const int64_t kDims[] = {0, 1, 1, 2, 3, 4, 1, 2, kBig};
  static const double kValues[] = {0.5, -1.5, 3, 0, -1, 1e30, -1e300, HUGE_VAL, std::nan("")};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto some_ints = [&] {
    std::vector<int64_t> v(pick(6));
    for (auto& x : v) x = kInts[pick(std::size(kInts))];
    return v;
  };
  Case c{"random #" + std::to_string(index), {}, e.attrs};
  for (const auto& in : e.inputs) {
    Tensor t = in.base;
    switch (pick(8)) {
      case 0: case 1: case 2: break;
      case 3: {
        Shape s(pick(5));
        for (auto& d : s) d = kDims[pick(std::size(kDims))];
        // Hostile through its dims, not its size: at most 4096 elements (or none).
        int64_t n = 1;
        bool big = false;
        for (int64_t d : s) big = big || __builtin_mul_overflow(n, d, &n) || n > 4096;
        if (big && std::find(s.begin(), s.end(), 0) == s.end()) s.assign(s.size(), 2);
        else if (big) std::replace(s.begin(), s.end(), kBig, int64_t{1});
        t = filled(t.dtype(), s, kValues[pick(std::size(kValues))]);
        break;
      }
      case 4: t = as_type(t, kTypes[pick(std::size(kTypes))]); break;
      case 5: t = filled(t.dtype(), t.shape(), kValues[pick(std::size(kValues))]); break;
      case 6: if (in.role != Role::Data) t = sweep::ints(some_ints()); break;
      default: if (pick(3) == 0) t = Tensor(); break;
    }
    c.inputs.push_back(std::move(t));
  }
  for (const auto& [name, kind] : e.sweep_attrs) {
    const size_t how = pick(6);
    if (how < 2) continue;
    if (how == 2) {
      c.attrs.erase(name);
      continue;
    }
    switch (kind) {
      case AttrKind::Int: c.attrs[name] = kInts[pick(std::size(kInts))]; break;
      case AttrKind::Ints: c.attrs[name] = some_ints(); break;
      case AttrKind::Float: c.attrs[name] = static_cast<float>(kValues[pick(std::size(kValues))]); break;
      case AttrKind::String: c.attrs[name] = std::string(pick(2) ? "SAME_LOWER" : "BOGUS"); break;
    }
  }
  return c;
}

// The generic entry for an op without one: one to three float inputs.
OpEntry generic_entry(const std::string& op) {
  OpEntry e{op, {{Role::Data, sweep::f32({2, 3})}, {Role::Data, sweep::f32({3})}, {Role::Data, sweep::f32({2, 3})}}, {}, {}};
  return e;
}

// Runs f; true if it returned. A qvit::Error is a clean rejection; anything else fails the test.
template <class F>
bool clean(const std::string& where, F&& f) {
  try {
    f();
    return true;
  } catch (const Error&) {
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << where << ": " << typeid(e).name() << ": " << e.what();
  } catch (...) {
    ADD_FAILURE() << where << ": an exception that is not a std::exception";
  }
  return false;
}

// The case as an IR graph: inputs at `graph_inputs` positions are graph inputs, the rest constants.
Graph ir_graph(const OpEntry& e, const Case& c, bool first_as_input, int64_t opset) {
  Graph g;
  g.source = "sweep";
  g.opset = opset;
  Node n;
  n.name = e.op + "_node";
  n.op = e.op;
  n.attrs = c.attrs;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    if (!c.inputs[k].defined()) {
      n.inputs.push_back(-1);
    } else if (k == 0 && first_as_input) {
      Value v;
      v.name = "in0";
      v.dtype = c.inputs[0].dtype();
      v.shape = c.inputs[0].shape();
      n.inputs.push_back(g.add_value(std::move(v)));
      g.inputs.push_back(n.inputs.back());
    } else {
      n.inputs.push_back(g.add_constant("in" + std::to_string(k), c.inputs[k]));
    }
  }
  for (size_t k = 0; k < e.outputs; ++k) {
    Value v;
    v.name = "out" + std::to_string(k);
    v.producer = 0;
    n.outputs.push_back(g.add_value(std::move(v)));
    g.outputs.push_back(n.outputs.back());
  }
  g.nodes.push_back(std::move(n));
  g.rebuild_index();
  return g;
}

bool first_input_usable(const Case& c) { return !c.inputs.empty() && c.inputs[0].defined(); }

// Runs one case every way; returns whether the ONNX import with folded initializers succeeded
// (IR-only ops: whether the IR fold did).
bool run_case(const OpEntry& e, const Case& c) {
  const std::string where = e.op + (e.label.empty() ? "" : "[" + e.label + "]") + " / " + c.what;
  if (std::getenv("QVIT_SWEEP_TRACE")) fprintf(stderr, "sweep: %s\n", where.c_str());
  bool ok = false;
  if (e.onnx) {
    const std::string all_init = synth_onnx_bytes(single_node_model(e.op, c.inputs, c.attrs, e.outputs));
    ok = clean(where + " [onnx, folded]", [&] { import_onnx_bytes(all_init, "sweep.onnx"); });
    if (first_input_usable(c)) {
      const std::string with_input = synth_onnx_bytes(single_node_model(e.op, c.inputs, c.attrs, e.outputs, {0}));
      clean(where + " [onnx, graph input]", [&] {
        ImportOptions opt;
        opt.input_shapes_by_position = {c.inputs[0].shape()};
        Graph g = import_onnx_bytes(with_input, "sweep.onnx", opt);
        Executor(g).run({c.inputs[0]});
      });
    }
    if (first_input_usable(c) && c.inputs[0].rank() >= 1) {
      // Input 0 with a dynamic leading dim run at batch 5: folding probes batches 1-3 and
      // extrapolates shapes and shape arithmetic (fold.h), on whatever the op computes.
      SynthModel m = single_node_model(e.op, c.inputs, c.attrs, e.outputs, {0});
      m.inputs[0].dims[0] = std::nullopt;
      const std::string dynamic = synth_onnx_bytes(m);
      clean(where + " [onnx, dynamic batch 5]", [&] {
        ImportOptions opt;
        opt.batch = 5;
        Graph g = import_onnx_bytes(dynamic, "sweep.onnx", opt);
        Shape s = c.inputs[0].shape();
        s[0] = 5;
        Executor(g).run({filled(c.inputs[0].dtype(), s, 1)});
      });
    }
  }
  for (int64_t opset : {17, 12, 9}) {
    const std::string at = where + " [ir, opset " + std::to_string(opset) + "]";
    const bool folded = clean(at + " folded", [&] {
      Graph g = ir_graph(e, c, false, opset);
      fold_constants(g);
    });
    if (!e.onnx && opset == 17) ok = folded;
    if (first_input_usable(c))
      clean(at + " executor", [&] {
        Graph g = ir_graph(e, c, true, opset);
        Executor(g).run({c.inputs[0]});
      });
  }
  return ok;
}

// Caps every tensor at 16 MiB for the sweep (hostile shapes then fail fast instead of allocating
// the default 2 GiB), restoring the process-wide limits afterwards.
class SmallTensorCap {
 public:
  SmallTensorCap() : saved_(resource_limits()) {
    ResourceLimits l = saved_;
    l.max_tensor_bytes = int64_t{16} << 20;
    set_resource_limits(l);
  }
  ~SmallTensorCap() { set_resource_limits(saved_); }

 private:
  ResourceLimits saved_;
};

std::vector<OpEntry> entries_for(const std::string& op) {
  std::vector<OpEntry> out;
  for (auto& e : sweep::sweep_entries())
    if (e.op == op) out.push_back(std::move(e));
  return out;
}

class OpSweep : public ::testing::TestWithParam<std::string> {};

TEST_P(OpSweep, HostileInputsSucceedOrThrowError) {
  SmallTensorCap cap;
  std::vector<OpEntry> entries = entries_for(GetParam());
  if (entries.empty()) {
    ADD_FAILURE() << GetParam() << " has no entry in tests/fuzz/op_cases.h; running the generic sweep";
    entries.push_back(generic_entry(GetParam()));
  }
  for (const OpEntry& e : entries) {
    const std::vector<Case> cases = generate(e);
    for (const Case& c : cases) {
      const bool ok = run_case(e, c);
      // The valid call must pass, or the sweep would only be testing the checker's rejections.
      if (c.what == "base" && !entries_for(GetParam()).empty()) {
        EXPECT_TRUE(ok) << e.op << (e.label.empty() ? "" : "[" + e.label + "]") << ": the valid call failed";
      }
    }
  }
}

// Random combinations of mutations: 40 per entry by default (QVIT_SWEEP_RANDOM=N for more, e.g.
// in a sanitizer build; QVIT_SWEEP_SEED=S for other cases), from a fixed seed per op, so a
// failure names a reproducible case.
TEST_P(OpSweep, RandomCombinationsSucceedOrThrowError) {
  SmallTensorCap cap;
  const char* env = std::getenv("QVIT_SWEEP_RANDOM");
  const char* seed = std::getenv("QVIT_SWEEP_SEED");
  const int count = env ? std::atoi(env) : 40;
  std::vector<OpEntry> entries = entries_for(GetParam());
  if (entries.empty()) entries.push_back(generic_entry(GetParam()));
  std::mt19937_64 rng(std::hash<std::string>{}(GetParam()) ^ (seed ? std::strtoull(seed, nullptr, 10) : 0));
  for (const OpEntry& e : entries)
    for (int i = 0; i < count; ++i) run_case(e, random_case(e, rng, i));
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpSweep, ::testing::ValuesIn(supported_ops()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(OpSweepTable, EveryOpHasAnEntry) {
  const auto entries = sweep::sweep_entries();
  for (const std::string& op : supported_ops())
    EXPECT_TRUE(std::any_of(entries.begin(), entries.end(), [&](const OpEntry& e) { return e.op == op; }))
        << op << " is registered but has no entry in tests/fuzz/op_cases.h";
  for (const OpEntry& e : entries) EXPECT_NE(find_op(e.op), nullptr) << e.op << " has an entry but is not registered";
}

// The defects the fuzzer found, as named regressions (each must be a clean qvit::Error).
TEST(OpSweepRegression, ScalarInputsToAxisOpsAreErrors) {
  SmallTensorCap cap;
  for (const char* op : {"Concat", "Split", "ArgMax", "ArgMin", "Softmax", "Gather"}) {
    std::vector<Tensor> in = {Tensor::scalar(1.0f)};
    if (std::string(op) == "Gather") in.push_back(Tensor::scalar<int64_t>(0));
    std::map<std::string, AttrValue> attrs = {{"axis", int64_t{0}}};
    const std::string bytes = synth_onnx_bytes(single_node_model(op, in, attrs, std::string(op) == "Split" ? 2 : 1));
    try {
      import_onnx_bytes(bytes, "scalar.onnx");
      ADD_FAILURE() << op << " accepted a rank-0 input";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("(") + op + ")"), std::string::npos) << e.what();
    }
  }
  // Reduce ops take scalars (no axes): the scalar itself.
  Graph g = import_onnx_bytes(synth_onnx_bytes(single_node_model("ReduceSum", {Tensor::scalar(2.5f)}, {})), "s.onnx");
  ASSERT_EQ(g.outputs.size(), 1u);
  ASSERT_TRUE(g.is_constant(g.outputs[0]));
  EXPECT_EQ(g.constant(g.outputs[0]).rank(), 0);
  EXPECT_FLOAT_EQ(g.constant(g.outputs[0]).data<float>()[0], 2.5f);
}

TEST(OpSweepRegression, ConvAttributeErrorsNameNodeAndAttribute) {
  const std::vector<Tensor> in = {sweep::f32({1, 2, 5, 5}), sweep::f32({3, 2, 3, 3})};
  const std::vector<std::pair<std::map<std::string, AttrValue>, std::string>> bad = {
      {{{"pads", std::vector<int64_t>{1, 1, 1}}}, "'pads'"},
      {{{"strides", std::vector<int64_t>{1}}}, "'strides'"},
      {{{"strides", std::vector<int64_t>{0, 1}}}, "'strides'"},
      {{{"dilations", std::vector<int64_t>{1, -1}}}, "'dilations'"},
      {{{"pads", std::vector<int64_t>{0, 0, -1, 0}}}, "'pads'"},
      {{{"kernel_shape", std::vector<int64_t>{2, 3}}}, "'kernel_shape'"},
      {{{"group", int64_t{3}}}, "'group'"},
      {{{"group", int64_t{0}}}, "'group'"},
      {{{"dilations", std::vector<int64_t>{4, 1}}}, "larger than"},
  };
  for (const auto& [attrs, needle] : bad) {
    try {
      import_onnx_bytes(synth_onnx_bytes(single_node_model("Conv", in, attrs)), "conv.onnx");
      ADD_FAILURE() << "accepted " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("node 'Conv_node' (Conv)"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

TEST(OpSweepRegression, RangeOfBoolAndHugeShapesAreErrors) {
  SmallTensorCap cap;
  EXPECT_THROW(import_onnx_bytes(synth_onnx_bytes(single_node_model(
                                     "Range", {Tensor::scalar(true), Tensor::scalar(true), Tensor::scalar(true)}, {})),
                                 "r.onnx"),
               Error);
  // An initializer declared [2^32, 2^32] with no data, sliced.
  SynthModel m = single_node_model("Slice", {sweep::f32({1}), sweep::ints({0}), sweep::ints({1})}, {});
  m.initializers[0].declared_dims = Shape{int64_t{1} << 32, int64_t{1} << 32};
  m.initializers[0].omit_data = true;
  EXPECT_THROW(import_onnx_bytes(synth_onnx_bytes(m), "slice.onnx"), Error);
  // Reshape whose known dims overflow int64.
  EXPECT_THROW(import_onnx_bytes(synth_onnx_bytes(single_node_model(
                                     "Reshape", {Tensor(DType::Float32, {0}), sweep::ints({kBig, kBig, kBig, 0, -1})}, {})),
                                 "reshape.onnx"),
               Error);
}

}  // namespace
}  // namespace qvit
