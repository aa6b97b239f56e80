#pragma once
// A float ONNX classifier ready to run on batches of any size. The IR is static-shape (the
// importer folds shape subgraphs for one batch size), so the model is imported once per batch
// size it meets; a short final batch is zero-padded to the usual size instead of re-importing.
// A model exported with a fixed batch keeps it: images run through it in chunks of that batch.
#include <map>
#include <memory>
#include <string>

#include "ir/executor.h"
#include "ir/graph.h"

namespace qvit {

class FloatModel {
 public:
  FloatModel(std::string path, int64_t batch_size);

  // logits [N, classes] for images [N, ...]; N ≤ batch_size.
  Tensor run(const Tensor& images, ValueObserver* observer = nullptr);

  const Graph& graph() const { return *graph_; }
  int64_t batch_size() const { return batch_size_; }
  // The batch the graph runs at: batch_size(), or the model's own fixed batch.
  int64_t model_batch() const { return model_batch_; }

 private:
  std::string path_;
  int64_t batch_size_;
  int64_t model_batch_ = 0;
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<Executor> executor_;
};

}  // namespace qvit
