#pragma once
// Layer importance for mixed precision (issue 10). Scorers, all over the layers of
// find_allocation_layers and the calibration images:
//  - "lrp" (LRP-QViT with Chefer et al.'s rules, grad/): per image, relevance R from a one-hot
//    of the target class at the logits and the gradient g of that logit; a layer's score is the
//    mean over its input activations of (g ⊙ R)⁺, averaged over the images;
//  - "gradient": first-order saliency, the mean of |g ⊙ x| over the same tensors (Taylor /
//    gradient-norm scoring: what changing the layer's input would change in the target logit);
//  - "sensitivity": the output noise when only that layer (its weight and input activations) is
//    fake-quantized at a low width, as a fraction of the float logits' power (1 / SQNR);
//  - "uniform": every layer equal (the allocation then reduces to the budget's uniform width).
// Relative importance = score / mean score over all layers.
#include <string>
#include <vector>

#include "calib/layer_inventory.h"
#include "grad/reverse_pass.h"
#include "data/dataset.h"

namespace qvit {

struct LayerImportance {
  std::string layer;
  double score = 0;
  double relative = 0;
};

struct ImportanceOptions {
  std::string scorer = "lrp";  // "lrp", "gradient", "sensitivity", "uniform"
  int sensitivity_bits = 3;    // width of the one layer quantized by the sensitivity scorer
  double percentile_low = 0.1, percentile_high = 99.9;  // the sensitivity scorer's activation ranges
  bool progress = true;
};

// Scores of one image by the reverse-pass scorers ("lrp", "gradient"). The image is row 0 of
// `input` (a batch of the graph's input shape; other rows are ignored).
class ReverseScorer {
 public:
  ReverseScorer(const Graph& g, const LayerInventory& inv, bool lrp);
  struct ImageScores {
    int64_t target = -1;                // class explained
    std::vector<double> score;          // per layer
    std::vector<double> relevance_sum;  // per layer: ΣR over its inputs (lrp only)
  };
  // `label` < 0 (or not a class of the model): the prediction is explained.
  ImageScores score_image(const Tensor& input, int64_t label) const;

 private:
  const Graph& g_;
  const LayerInventory& inv_;
  bool lrp_;
  ReversePass pass_;
  std::vector<int> wanted_;
};

// `g` is the float graph (imported at batch 1 unless the model fixes its batch); `indices` the
// calibration images of `dataset`. Target class: the label where the dataset has one, else the
// prediction.
std::vector<LayerImportance> score_layers(const Graph& g, const LayerInventory& inv, const data::Dataset& dataset,
                                          const std::vector<int64_t>& indices, const ImportanceOptions& options);

}  // namespace qvit
