#pragma once
#include <vector>

#include "ir/graph.h"

namespace qvit {

struct FoldOptions {
  // Positions (in Graph::inputs) of inputs whose leading dimension is the model's dynamic batch.
  // The graph's input shapes hold the batch the caller wants (the run batch).
  std::vector<int> dynamic_batch_inputs;
};

// With static input shapes, evaluates every value that does not depend on input *data* (weights,
// Constant nodes, Shape/Size of any tensor, and everything computed only from those), turns it
// into a constant, drops the nodes that computed it, and records the static shape and type of
// every remaining value.
//
// The cost must not grow with the run batch (a DeiT-S at batch 32 would need GBs), so when the
// batch is dynamic the graph is probed at batches 1, 2 and 3 instead of the run batch B: every
// shape and every folded integer (shape arithmetic) is affine in the batch, read off probes 1
// and 2 and checked against probe 3, then evaluated at B. A static value whose shape changes with
// the batch (an expanded class token) is not folded; its node stays in the graph and runs.
// Anything that is not affine in the batch falls back to one probe at B itself. A probe keeps only
// the values it folds; intermediates are freed after their last reader.
void fold_constants(Graph& g, const FoldOptions& options = {});

}  // namespace qvit
