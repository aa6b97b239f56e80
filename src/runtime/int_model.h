#pragma once
// The integer-only model: a calibrated float model lowered to an IntGraph (intgraph/lower.h) and
// run on the Executor with the integer op set. Everything between the two boundaries is int32:
// the input image is quantized to the input point's codes, the logits come back as integers and
// are scaled to real numbers (per channel) for the report.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "calib/calibration_result.h"
#include "intgraph/int_ops.h"
#include "intgraph/lower.h"
#include "ir/executor.h"

namespace qvit {

// Why `model_path` + `calib` cannot become an integer-only model (the lowering's error: op, node,
// reason), or nullopt when it can. `calibrate` asks this right away, not the later `eval --int`.
std::optional<std::string> integer_lowering_problem(const std::string& model_path, const CalibrationResult& calib,
                                                    const LoweringOptions& options);

class IntModel {
 public:
  // Imports, reparameterizes and lowers `model_path` for `batch_size` images per run. Refuses a
  // calibration made for another model file unless `allow_other_model`.
  IntModel(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
           const LoweringOptions& options, bool allow_other_model = false);
  // Runs an already lowered model (e.g. loaded from an exported .int.onnx) at its batch size.
  explicit IntModel(LoweredModel lowered);
  ~IntModel();

  // Logits (real numbers, from the integer outputs) for images [N, ...], any N: chunks of the
  // model's batch, side by side on the threads when there are several; truncation counts of the
  // real images (not the zero padding) are added to `stats` when given.
  Tensor run(const Tensor& images, IntRunStats* stats = nullptr);
  // The integer logits themselves, for bit-exact comparisons.
  Tensor run_integer(const Tensor& images, IntRunStats* stats = nullptr);

  const LoweredModel& lowered() const { return lowered_; }
  int64_t batch_size() const { return batch_; }

  // Chunks of the model's batch run side by side (one per thread, each op serial inside) only
  // while a chunk's largest activation stays within kSideBySideChunkBytes: then the two threads'
  // working sets stay near their caches, and a small model's ops, too small to share between
  // cores, need no hand-over. Larger chunks run one after the other, every op shared between the
  // threads (measured on the DeiT-S-size model: chunks of 32 images side by side ran at 0.6x of
  // that, chunks of 1 image at 1.6x).
  static constexpr int64_t kSideBySideChunkBytes = int64_t{2} << 20;
  int64_t largest_value_bytes() const { return largest_value_bytes_; }
  bool runs_chunks_side_by_side() const;
  // The batch to lower a model for when evaluating `max_batch` images per call: the largest power
  // of two ≤ max_batch whose largest activation fits kSideBySideChunkBytes, given this model's
  // (any batch) largest activation; 1 when even one image's does not.
  int64_t side_by_side_chunk_rows(int64_t max_batch) const;
  // Nodes the runtime computes once for several (int_merge.h): (merged node, node doing its work).
  const std::vector<std::pair<std::string, std::string>>& merged_nodes() const { return merged_nodes_; }

 private:
  LoweredModel lowered_;
  std::unique_ptr<Executor> exec_;
  int64_t batch_;
  int64_t model_batch_ = 0;  // the graph's batch: batch_, or the model's own fixed batch
  int64_t largest_value_bytes_ = 0;  // over the graph's non-constant values, at model_batch_
  std::unique_ptr<IntRunStats> zero_row_stats_;  // per node, what one zero-padded row counts
  std::vector<std::pair<std::string, std::string>> merged_nodes_;  // (merged, computed by): int_merge.h

  void prepare();
  const IntRunStats& zero_row_counts();  // measured on the first call; then only read (thread-safe)
  void subtract_padding_rows(IntRunStats& stats, int64_t padded_rows);
  Tensor run_chunk(const Tensor& chunk, IntRunStats* stats) const;
  Tensor run_graph(Tensor q, IntRunStats* stats) const;
};

}  // namespace qvit
