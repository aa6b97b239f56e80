#include "calib/calibrator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>

#include "calib/m_star_search.h"
#include "calib/mixed_precision.h"
#include "calib/observers.h"
#include "calib/quant_plan.h"
#include "calib/reparam.h"
#include "data/batch_loader.h"
#include "data/image.h"
#include "ir/executor.h"
#include "onnx/onnx_import.h"
#include "util/progress.h"

namespace qvit {
namespace {

// Largest divisor of n not above 32: calibration batches are then all full, so no padded rows
// ever reach an observer.
int64_t calibration_batch(int64_t n) {
  for (int64_t b = std::min<int64_t>(32, n); b > 1; --b)
    if (n % b == 0) return b;
  return 1;
}

// Calls fn(batch images) for each calibration batch, with a progress bar.
template <class Fn>
void for_each_batch(const data::Dataset& ds, const std::vector<int64_t>& indices, int64_t batch, const std::string& label,
                    bool progress, Fn&& fn) {
  data::BatchLoaderOptions opt;
  opt.batch_size = batch;
  data::BatchLoader loader(ds, indices, opt);
  ProgressBar bar(label, loader.num_samples(), progress);
  data::Batch b;
  while (loader.next(b)) {
    fn(b.images);
    bar.update(loader.position());
  }
  bar.finish();
}

// Routes produced tensors to per-value callbacks.
class ValueTap : public ValueObserver {
 public:
  std::map<int, std::function<void(const Tensor&)>> taps;
  void on_value(const Graph&, int id, Tensor& t) override {
    if (auto it = taps.find(id); it != taps.end()) it->second(t);
  }
};

// The float tensor's elements with `axis` moved to the end (rows along that axis).
std::vector<float> move_axis_last(const Tensor& t, int axis) {
  int64_t outer = 1, inner = 1;
  const int64_t dim = t.shape()[static_cast<size_t>(axis)];
  for (int a = 0; a < axis; ++a) outer *= t.shape()[static_cast<size_t>(a)];
  for (int a = axis + 1; a < t.rank(); ++a) inner *= t.shape()[static_cast<size_t>(a)];
  std::vector<float> out(static_cast<size_t>(t.numel()));
  const float* p = t.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t k = 0; k < dim; ++k) out[static_cast<size_t>((o * inner + i) * dim + k)] = p[(o * dim + k) * inner + i];
  return out;
}

}  // namespace

ChannelQuantParams quantize_weight_params(const Tensor& w, int axis, int bits, ObserverKind observer) {
  ChannelQuantParams p;
  p.scheme = QuantScheme::Symmetric;
  p.bits = bits;
  p.axis = axis;
  const int64_t C = w.shape()[axis];
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a) outer *= w.shape()[a];
  for (int a = axis + 1; a < w.rank(); ++a) inner *= w.shape()[a];
  std::vector<float> values;
  for (int64_t c = 0; c < C; ++c) {
    values.clear();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) values.push_back(w.data<float>()[(o * C + c) * inner + i]);
    MinMaxObserver mm;
    mm.observe(values.data(), static_cast<int64_t>(values.size()));
    Range r = mm.range();
    if (observer == ObserverKind::Mse) {
      const float m = std::max(-r.lo, r.hi);
      HistogramObserver h({-m, m}, 512);
      h.observe(values.data(), static_cast<int64_t>(values.size()));
      r = h.mse_range(bits, QuantScheme::Symmetric);
    }
    p.scale.push_back(params_for_range(r.lo, r.hi, bits, QuantScheme::Symmetric).scale);
  }
  return p;
}

CalibrationResult calibrate(const std::string& model_path, const data::Dataset& dataset, const Recipe& recipe,
                            const CalibrateOptions& options) {
  const int64_t n = options.samples;
  if (n < 1) throw Error("--samples must be at least 1");
  if (dataset.size() < n)
    throw Error(dataset.description() + ": has " + std::to_string(dataset.size()) + " images, calibration asks for " +
                std::to_string(n));
  // Candidates in the order they are taken: dataset order, or round robin over the classes (so
  // 32 images of a 10-class set are 4 or 3 of each class).
  std::vector<int64_t> order;
  if (options.first_n) {
    for (int64_t i = 0; i < dataset.size(); ++i) order.push_back(i);
  } else {
    std::map<int64_t, std::vector<int64_t>> by_class;
    for (int64_t i = 0; i < dataset.size(); ++i) by_class[dataset.label(i)].push_back(i);
    for (size_t round = 0; order.size() < static_cast<size_t>(dataset.size()); ++round)
      for (const auto& [label, members] : by_class)
        if (round < members.size()) order.push_back(members[round]);
  }
  std::vector<int64_t> indices;
  std::vector<float> probe(static_cast<size_t>(dataset.sample_numel()));
  // The first few skips are logged one by one, the rest summarized in one line.
  data::SkippedImages skipped("skipped: ");
  size_t visited = 0;
  for (; visited < order.size() && static_cast<int64_t>(indices.size()) < n; ++visited) {
    if (options.skip_bad) {
      try {
        dataset.load(order[visited], probe.data());
      } catch (const data::BadImageError& e) {
        skipped.add(dataset.id(order[visited]), e.what());
        continue;
      }
    }
    indices.push_back(order[visited]);
  }
  if (skipped.count()) spdlog::warn("{}", skipped.summary(static_cast<int64_t>(visited)));
  if (static_cast<int64_t>(indices.size()) < n)
    throw Error(dataset.description() + ": only " + std::to_string(indices.size()) + " readable images, calibration asks for " +
                std::to_string(n));
  int64_t batch = options.batch > 0 ? options.batch : calibration_batch(n);
  ImportOptions iopt;
  iopt.batch = batch;
  Graph g = import_onnx(model_path, iopt);
  if (g.inputs.size() != 1) throw Error(model_path + ": calibration supports models with one input");
  if (g.value(g.inputs[0]).shape.empty()) throw Error(model_path + ": the model input has no batch dimension");
  if (const int64_t fixed = g.value(g.inputs[0]).shape[0]; fixed != batch) {
    // Exported with a fixed batch: run in chunks of it. Observers must never see padding rows, so
    // a short last chunk is completed with repeats of the first calibration images.
    batch = fixed;
    const int64_t extra = (batch - static_cast<int64_t>(indices.size()) % batch) % batch;
    if (extra)
      spdlog::info("{}: the model has a fixed batch of {}; the last chunk repeats {} of the {} calibration images",
                   model_path, batch, extra, n);
    for (int64_t i = 0; i < extra; ++i) indices.push_back(indices[static_cast<size_t>(i % n)]);
  } else if (n % batch != 0) {
    throw Error("--batch " + std::to_string(batch) + " does not divide --samples " + std::to_string(n) +
                " (calibration batches must be full, so that no padding reaches an observer)");
  }
  const int64_t observed = static_cast<int64_t>(indices.size());
  // A recipe layer pattern that names no node is almost always a typo or another model's names.
  std::string unmatched;
  int unmatched_count = 0;
  for (const auto& o : recipe.layers)
    if (std::none_of(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return glob_match(o.pattern, n.name); })) {
      unmatched += (unmatched.empty() ? "'" : ", '") + o.pattern + "'";
      ++unmatched_count;
    }
  if (unmatched_count)
    spdlog::warn("recipe {}: {} layer pattern(s) match no node of {} and have no effect: {}", recipe.name, unmatched_count,
                 model_path, unmatched);

  CalibrationResult result;
  result.model = model_path;
  result.model_sha256 = file_sha256(model_path);
  result.recipe = recipe;
  result.samples = n;
  for (int64_t i : indices) result.sample_ids.push_back(dataset.id(i));

  // Mixed precision: importance and widths before anything is observed (they set the grids' widths).
  AllocatedBitsMap allocated;
  if (recipe.allocation.enabled) {
    const std::vector<int64_t> unique(indices.begin(), indices.begin() + n);
    allocated = allocate_mixed_precision(model_path, g, dataset, unique, recipe, options.progress, result);
  }
  const AllocatedBitsMap* allocation = recipe.allocation.enabled ? &allocated : nullptr;

  // Pass 1: channel-wise ranges of reparameterizable LayerNorm outputs.
  if (recipe.post_layernorm != PostLayerNormMode::LayerWise) {
    const auto sites = find_reparam_sites(g);
    std::map<int, std::vector<MinMaxObserver>> channel_obs;
    ValueTap tap;
    for (const auto& s : sites) {
      const int v = g.nodes[s.layernorm].outputs[0];
      const int64_t C = g.value(v).shape.back();
      channel_obs[v].resize(static_cast<size_t>(C));
      tap.taps[v] = [&obs = channel_obs[v], C](const Tensor& t) {
        const int64_t rows = t.numel() / C;
        std::vector<float> col(static_cast<size_t>(rows));
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t r = 0; r < rows; ++r) col[r] = t.data<float>()[r * C + c];
          obs[c].observe(col.data(), rows);
        }
      };
    }
    {
      Executor ex(g);
      for_each_batch(dataset, indices, batch, "calibrate: LayerNorm channels", options.progress,
                     [&](const Tensor& images) { ex.run({images}, &tap); });
    }
    const double k = recipe.post_layernorm == PostLayerNormMode::ClippedReparam ? recipe.clip_k : 0.0;
    // The width the LayerNorm output's grid will have (an allocation may change it).
    const QuantPlan before = plan_quantization(g, recipe, allocation);
    auto output_bits = [&](const Node& ln) {
      for (const auto& p : before.activations)
        if (p.value == ln.outputs[0]) return p.bits;
      return recipe.activation_bits_for(ln.name);
    };
    for (const auto& s : sites) {
      const Node& ln = g.nodes[s.layernorm];
      std::vector<Range> ranges;
      for (const auto& o : channel_obs[ln.outputs[0]]) ranges.push_back(o.range());
      LayerNormReparam r = compute_reparam(ranges, output_bits(ln), k);
      r.layernorm = ln.name;
      for (int l : s.linears) r.consumers.push_back(g.nodes[l].name);
      result.reparams.push_back(std::move(r));
    }
    for (const auto& r : result.reparams) apply_reparam(g, r);
    spdlog::debug("reparameterized {} LayerNorm(s) of {}", result.reparams.size(), model_path);
  }

  // Pass 2 (and 3): per-tensor activation ranges on the reparameterized graph.
  const QuantPlan plan = plan_quantization(g, recipe, allocation);
  record_planned_widths(g, plan, result);
  const int input_id = g.inputs[0];
  std::vector<MinMaxObserver> minmax(plan.activations.size());
  // Rows of every softmax input, for the M* search.
  // A row runs along the Softmax axis, which need not be the last (softmax over tokens in
  // sequence pooling): such inputs are observed with that axis moved last.
  std::vector<std::pair<int, SoftmaxRowSample>> softmax_rows;
  std::map<int, int> softmax_axis;  // by node, when not the last axis
  constexpr int64_t kSoftmaxRows = 512;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& sm = g.nodes[i];
    const Shape& is = g.value(sm.inputs[0]).shape;
    if (sm.op != "Softmax" || is.empty()) continue;
    const int r = static_cast<int>(is.size());
    int axis = static_cast<int>(sm.attr_int("axis", -1));
    if (axis < 0) axis += r;
    if (axis != r - 1) softmax_axis[static_cast<int>(i)] = axis;
    softmax_rows.emplace_back(static_cast<int>(i), SoftmaxRowSample(is[static_cast<size_t>(axis)], kSoftmaxRows));
  }
  std::vector<std::unique_ptr<PercentileObserver>> pct(plan.activations.size());
  auto wants_percentile = [&](const ActivationPoint& p) {
    // Softmax outputs keep their full range: the rare large probabilities are the attention's
    // signal, not outliers, and clipping them at a percentile costs points on long sequences
    // (49-patch ViT, w8a8: 84.6% → 87.5%, float 87.3%).
    return recipe.activation_observer == ObserverKind::Percentile && p.scheme != QuantScheme::LogSqrt2 &&
           p.role != "softmax";
  };
  {
    ValueTap tap;
    for (size_t i = 0; i < plan.activations.size(); ++i) {
      const ActivationPoint& p = plan.activations[i];
      const int64_t total = shape_numel(g.value(p.value).shape) / batch * observed;
      if (wants_percentile(p)) pct[i] = std::make_unique<PercentileObserver>(recipe.percentile_low, recipe.percentile_high, total);
      tap.taps[p.value] = [&, i](const Tensor& t) {
        minmax[i].observe(t.data<float>(), t.numel());
        if (pct[i]) pct[i]->observe(t.data<float>(), t.numel());
      };
    }
    for (auto& [node, sample] : softmax_rows) {
      const int v = g.nodes[node].inputs[0];
      const int64_t cols = sample.cols(), rows_total = shape_numel(g.value(v).shape) / cols / batch * observed;
      const int64_t stride = std::max<int64_t>(1, rows_total / kSoftmaxRows);
      if (tap.taps.count(v)) throw InternalError("softmax input is also an activation point");
      const auto axis = softmax_axis.find(node);
      if (axis == softmax_axis.end()) {
        tap.taps[v] = [&s = sample, cols, stride](const Tensor& t) { s.observe(t.data<float>(), t.numel() / cols, stride); };
      } else {
        tap.taps[v] = [&s = sample, cols, stride, axis = axis->second](const Tensor& t) {
          const std::vector<float> rows = move_axis_last(t, axis);
          s.observe(rows.data(), t.numel() / cols, stride);
        };
      }
    }
    Executor ex(g);
    for_each_batch(dataset, indices, batch, "calibrate: activations", options.progress, [&](const Tensor& images) {
      if (auto it = tap.taps.find(input_id); it != tap.taps.end()) it->second(images);
      ex.run({images}, &tap);
    });
  }
  std::vector<Range> ranges(plan.activations.size());
  for (size_t i = 0; i < plan.activations.size(); ++i) ranges[i] = pct[i] ? pct[i]->range() : minmax[i].range();
  if (recipe.activation_observer == ObserverKind::Mse) {
    std::vector<std::unique_ptr<HistogramObserver>> hist(plan.activations.size());
    ValueTap tap;
    for (size_t i = 0; i < plan.activations.size(); ++i) {
      if (plan.activations[i].scheme == QuantScheme::LogSqrt2) continue;
      hist[i] = std::make_unique<HistogramObserver>(minmax[i].range());
      tap.taps[plan.activations[i].value] = [&, i](const Tensor& t) { hist[i]->observe(t.data<float>(), t.numel()); };
    }
    Executor ex(g);
    for_each_batch(dataset, indices, batch, "calibrate: MSE search", options.progress, [&](const Tensor& images) {
      if (auto it = tap.taps.find(input_id); it != tap.taps.end()) it->second(images);
      ex.run({images}, &tap);
    });
    for (size_t i = 0; i < plan.activations.size(); ++i)
      if (hist[i]) ranges[i] = hist[i]->mse_range(plan.activations[i].bits, plan.activations[i].scheme);
  }
  for (size_t i = 0; i < plan.activations.size(); ++i) {
    const ActivationPoint& p = plan.activations[i];
    ActivationQuant a;
    a.value = g.value(p.value).name;
    a.role = p.role;
    a.observed_min = minmax[i].range().lo;
    a.observed_max = minmax[i].range().hi;
    a.params = params_for_range(ranges[i].lo, ranges[i].hi, p.bits, p.scheme);
    result.activations.push_back(a);
  }
  for (auto& [node, sample] : softmax_rows) {
    SoftmaxMStar m;
    m.node = g.nodes[node].name;
    m.cols = sample.cols();
    m.output_oriented = m_star_output_oriented(m.cols);
    m.smallest_gap = m_star_smallest_gap(sample);
    const MStarMse best = m_star_min_mse(sample);
    m.mse_best = best.m_star;
    m.mse = best.mse;
    const std::string& rule = recipe.m_star_rule;
    m.m_star = rule == "fixed" ? recipe.m_star_fixed
             : rule == "mse"   ? m.mse_best
             : rule == "gap"   ? m.smallest_gap
                               : m.output_oriented;
    result.softmax.push_back(m);
  }
  for (const auto& w : plan.weights) {
    WeightQuant q;
    q.node = g.nodes[w.node].name;
    q.params = quantize_weight_params(g.constant(w.weight), w.axis, w.bits, recipe.weight_observer);
    result.weights.push_back(std::move(q));
  }
  return result;
}

}  // namespace qvit
