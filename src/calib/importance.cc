#include "calib/importance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "calib/calibrator.h"
#include "calib/observers.h"
#include "grad/reverse_pass.h"
#include "ir/executor.h"
#include "util/progress.h"

namespace qvit {
namespace {

int64_t graph_batch(const Graph& g) {
  const Shape& s = g.value(g.inputs.at(0)).shape;
  if (s.empty() || s[0] < 1) throw Error(g.source + ": the model input has no batch dimension");
  return s[0];
}

// Batch tensor with images indices[first, first+count) in its first rows and zeros after.
Tensor load_rows(const Graph& g, const data::Dataset& ds, const std::vector<int64_t>& indices, size_t first, size_t count) {
  Tensor t(DType::Float32, g.value(g.inputs[0]).shape);
  const int64_t per = ds.sample_numel();
  if (t.numel() / graph_batch(g) != per)
    throw Error(ds.description() + ": a preprocessed image has " + std::to_string(per) + " values, the model input " +
                shape_str(t.shape()) + " expects " + std::to_string(t.numel() / graph_batch(g)) + " per image");
  for (size_t k = 0; k < count; ++k) ds.load(indices[first + k], t.data<float>() + static_cast<int64_t>(k) * per);
  return t;
}

std::vector<LayerImportance> relative(const LayerInventory& inv, std::vector<double> scores) {
  double mean = 0;
  for (double s : scores) mean += s;
  mean /= std::max<size_t>(scores.size(), 1);
  std::vector<LayerImportance> r;
  for (size_t i = 0; i < inv.layers.size(); ++i)
    r.push_back({inv.layers[i].name, scores[i], mean > 0 ? scores[i] / mean : 1.0});
  return r;
}

std::vector<RuleLookup> tables(bool lrp) { return lrp ? std::vector<RuleLookup>{vjp_rule, lrp_rule} : std::vector<RuleLookup>{vjp_rule}; }

// LRP and gradient saliency over the images, one image per pass (row 0 of the batch), so relevance
// totals and renormalizations are that image's whatever the graph's batch layout.
std::vector<double> reverse_scores(const Graph& g, const LayerInventory& inv, const data::Dataset& ds,
                                   const std::vector<int64_t>& indices, const ImportanceOptions& opt) {
  const bool lrp = opt.scorer == "lrp";
  const ReverseScorer scorer(g, inv, lrp);
  std::vector<double> scores(inv.layers.size(), 0.0);
  ProgressBar bar(lrp ? "calibrate: LRP importance" : "calibrate: gradient importance", static_cast<int64_t>(indices.size()),
                  opt.progress);
  bool warned = false;
  for (size_t img = 0; img < indices.size(); ++img) {
    const int64_t label = ds.label(indices[img]);
    const ReverseScorer::ImageScores s = scorer.score_image(load_rows(g, ds, indices, img, 1), label);
    if (label >= 0 && s.target != label && !warned) {
      spdlog::warn("{}: label {} of {} is not one of the model's classes; importance explains the prediction instead",
                   ds.description(), label, ds.id(indices[img]));
      warned = true;
    }
    for (size_t li = 0; li < scores.size(); ++li) scores[li] += s.score[li];
    bar.update(static_cast<int64_t>(img + 1));
  }
  bar.finish();
  for (double& s : scores) s /= static_cast<double>(std::max<size_t>(indices.size(), 1));
  return scores;
}

// Fake-quantizes chosen values in place as they are produced.
class FakeQuantTap : public ValueObserver {
 public:
  std::vector<std::pair<int, QuantParams>> points;
  void on_value(const Graph&, int id, Tensor& t) override {
    for (const auto& [v, p] : points)
      if (v == id) fake_quant(t.data<float>(), t.numel(), p);
  }
};

class RangeTap : public ValueObserver {
 public:
  std::vector<int> values;
  std::vector<std::unique_ptr<PercentileObserver>> observers;
  void on_value(const Graph&, int id, Tensor& t) override {
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i] == id) observers[i]->observe(t.data<float>(), t.numel());
  }
};

std::vector<double> sensitivity_scores(const Graph& g, const LayerInventory& inv, const data::Dataset& ds,
                                       const std::vector<int64_t>& indices, const ImportanceOptions& opt) {
  const int64_t batch = graph_batch(g);
  const size_t n = indices.size();
  std::vector<Tensor> batches;
  for (size_t first = 0; first < n; first += static_cast<size_t>(batch))
    batches.push_back(load_rows(g, ds, indices, first, std::min<size_t>(static_cast<size_t>(batch), n - first)));
  // Activation ranges of every layer input (percentiles over the images; padding rows are zeros,
  // which only widen a range to include 0).
  RangeTap ranges;
  for (const auto& l : inv.layers)
    for (int v : l.inputs)
      if (std::find(ranges.values.begin(), ranges.values.end(), v) == ranges.values.end()) {
        ranges.values.push_back(v);
        ranges.observers.push_back(std::make_unique<PercentileObserver>(
            opt.percentile_low, opt.percentile_high, shape_numel(g.value(v).shape) * static_cast<int64_t>(batches.size())));
      }
  std::vector<Tensor> reference;
  {
    Executor ex(g);
    for (Tensor b : batches) {
      // The executor reports node outputs only: the model input is observed here.
      ranges.on_value(g, g.inputs[0], b);
      reference.push_back(ex.run({b}, &ranges).at(0));
    }
  }
  double power = 0;
  for (const Tensor& r : reference)
    for (float v : r.values<float>()) power += double{v} * v;
  std::vector<double> scores;
  Graph probe = g;
  ProgressBar bar("calibrate: sensitivity", static_cast<int64_t>(inv.layers.size()), opt.progress);
  for (size_t li = 0; li < inv.layers.size(); ++li) {
    const InventoryLayer& l = inv.layers[li];
    // One working copy of the graph for all layers: each probe swaps its layer's weight for the
    // fake-quantized one and puts the float weight back afterwards.
    Graph& q = probe;
    std::optional<Tensor> float_weight;
    const int w = l.weight_count > 0 ? q.nodes[static_cast<size_t>(l.node)].inputs[1] : -1;
    if (w >= 0) {
      float_weight = q.constant(w);
      Tensor wt = *float_weight;
      const int axis = l.kind == "linear" ? 1 : 0;
      const ChannelQuantParams p = quantize_weight_params(wt, axis, opt.sensitivity_bits, ObserverKind::MinMax);
      int64_t outer = 1, inner = 1;
      for (int a = 0; a < axis; ++a) outer *= wt.shape()[a];
      for (int a = axis + 1; a < wt.rank(); ++a) inner *= wt.shape()[a];
      fake_quant_channels(wt.data<float>(), outer, wt.shape()[axis], inner, p);
      q.value(w).constant = std::move(wt);
    }
    struct Restore {
      Graph& g;
      int w;
      std::optional<Tensor>& t;
      ~Restore() {
        if (w >= 0) g.value(w).constant = std::move(t);
      }
    } restore{q, w, float_weight};
    FakeQuantTap tap;
    for (int v : l.inputs) {
      const size_t at = static_cast<size_t>(std::find(ranges.values.begin(), ranges.values.end(), v) - ranges.values.begin());
      const Range r = ranges.observers[at]->range();
      tap.points.push_back({v, params_for_range(r.lo, r.hi, opt.sensitivity_bits, QuantScheme::Asymmetric)});
    }
    Executor ex(q);
    double noise = 0;
    for (size_t b = 0; b < batches.size(); ++b) {
      Tensor input = batches[b];
      tap.on_value(q, q.inputs[0], input);
      const Tensor y = ex.run({input}, &tap).at(0);
      for (int64_t e = 0; e < y.numel(); ++e) {
        const double d = double{y.data<float>()[e]} - reference[b].data<float>()[e];
        noise += d * d;
      }
    }
    scores.push_back(power > 0 ? noise / power : noise);
    bar.update(static_cast<int64_t>(li + 1));
  }
  bar.finish();
  return scores;
}

}  // namespace

ReverseScorer::ReverseScorer(const Graph& g, const LayerInventory& inv, bool lrp)
    : g_(g), inv_(inv), lrp_(lrp), pass_(g, tables(lrp)) {
  for (const auto& l : inv.layers) wanted_.insert(wanted_.end(), l.inputs.begin(), l.inputs.end());
}

ReverseScorer::ImageScores ReverseScorer::score_image(const Tensor& input, int64_t label) const {
  const ReversePass::Tape tape = pass_.forward({input});
  const Tensor& logits = tape.values[static_cast<size_t>(g_.outputs[0])];
  if (logits.rank() != 2 || logits.shape()[0] != input.shape()[0])
    throw Error(g_.source + ": importance needs logits of shape [batch, classes], the model outputs " + shape_str(logits.shape()));
  const int64_t classes = logits.shape()[1];
  ImageScores r;
  r.target = label;
  if (label < 0 || label >= classes) {
    const float* row = logits.data<float>();
    r.target = std::max_element(row, row + classes) - row;
  }
  Tensor seed(DType::Float32, logits.shape());
  seed.data<float>()[r.target] = 1.0f;
  const std::vector<Tensor> grads = pass_.backward(tape, vjp_rule, 0, seed, wanted_);
  std::vector<Tensor> rel;
  if (lrp_) rel = pass_.backward(tape, lrp_rule, 0, seed, wanted_);
  size_t k = 0;
  for (const InventoryLayer& l : inv_.layers) {
    double sum = 0, rsum = 0;
    for (int v : l.inputs) {
      const Tensor& gv = grads[k];
      const Tensor& other = lrp_ ? rel[k] : tape.values[static_cast<size_t>(v)];
      ++k;
      if (!gv.defined() || !other.defined()) continue;
      const float* a = gv.data<float>();
      const float* b = other.data<float>();
      for (int64_t e = 0; e < gv.numel(); ++e) {
        const double p = double{a[e]} * b[e];
        sum += lrp_ ? std::max(p, 0.0) : std::fabs(p);
        if (lrp_) rsum += b[e];
      }
    }
    // Rows other than row 0 have zero gradient and relevance: the mean is over one image's elements.
    r.score.push_back(sum / static_cast<double>(std::max<int64_t>(l.activation_count, 1)));
    r.relevance_sum.push_back(rsum);
  }
  return r;
}

std::vector<LayerImportance> score_layers(const Graph& g, const LayerInventory& inv, const data::Dataset& dataset,
                                          const std::vector<int64_t>& indices, const ImportanceOptions& options) {
  if (inv.layers.empty()) throw Error(g.source + ": no weight layers or attention matmuls to allocate bits to");
  if (g.inputs.size() != 1) throw Error(g.source + ": importance scoring supports models with one input");
  std::vector<double> scores;
  if (options.scorer == "lrp" || options.scorer == "gradient") scores = reverse_scores(g, inv, dataset, indices, options);
  else if (options.scorer == "sensitivity") scores = sensitivity_scores(g, inv, dataset, indices, options);
  else if (options.scorer == "uniform") scores.assign(inv.layers.size(), 1.0);
  else throw Error("unknown importance scorer '" + options.scorer + "' (lrp, gradient, sensitivity, uniform)");
  return relative(inv, std::move(scores));
}

}  // namespace qvit
