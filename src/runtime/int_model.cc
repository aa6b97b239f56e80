#include "runtime/int_model.h"

#include <algorithm>

#include "intgraph/int_matmul.h"
#include "intgraph/int_merge.h"
#include "intgraph/int_storage.h"
#include "kernels/kernel_path.h"
#include "runtime/batch_padding.h"
#include "runtime/reparameterized_graph.h"
#include "util/thread_pool.h"

namespace qvit {

namespace {

// The graph's declared shapes are what a file says; the output it really computed must still be
// int32 logits with one row per image (run_in_chunks copies rows of it).
Tensor checked_output(const std::string& source, int64_t batch, Tensor y) {
  if (y.dtype() != DType::Int32 || y.rank() < 1 || y.shape()[0] != batch)
    throw Error(source + ": the model computed a " + dtype_name(y.dtype()) + " output of shape " + shape_str(y.shape()) +
                ", not int32 with one row per image of its batch " + std::to_string(batch));
  return y;
}

}  // namespace

std::optional<std::string> integer_lowering_problem(const std::string& model_path, const CalibrationResult& calib,
                                                    const LoweringOptions& options) {
  try {
    lower_to_integer(load_reparameterized(model_path, calib, 1, true), calib, options);
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

IntModel::IntModel(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                   const LoweringOptions& options, bool allow_other_model)
    : batch_(batch_size) {
  const Graph g = load_reparameterized(model_path, calib, batch_size, allow_other_model);
  model_batch_ = g.value(g.inputs.at(0)).shape.at(0);
  lowered_ = lower_to_integer(g, calib, options);
  prepare();
}

IntModel::IntModel(LoweredModel lowered) : lowered_(std::move(lowered)) {
  // A model from a file (load_int_onnx checked all of this) or built in code: the boundary must be
  // one the run functions below can use without undefined behaviour.
  const std::string& source = lowered_.graph.source;
  if (lowered_.graph.inputs.size() != 1) throw Error(source + ": an integer model has one input");
  const Shape& s = lowered_.graph.value(lowered_.graph.inputs[0]).shape;
  if (s.empty()) throw Error(source + ": the integer model's input has no static shape");
  if (s[0] < 1) throw Error(source + ": the integer model's input " + shape_str(s) + " has no batch");
  const std::string problem = quant_params_problem(lowered_.input);
  if (!problem.empty() || lowered_.input.scheme == QuantScheme::LogSqrt2)
    throw Error(source + ": input quantizer: " + (problem.empty() ? "a log-sqrt2 grid cannot quantize an image" : problem));
  if (lowered_.outputs.empty() || lowered_.outputs.size() != lowered_.graph.outputs.size())
    throw Error(source + ": an integer model has one output scale entry per output");
  for (const auto& o : lowered_.outputs)
    if (o.scales.empty()) throw Error(source + ": an output has no scales");
  batch_ = model_batch_ = s[0];
  prepare();
}

IntModel::~IntModel() = default;

// int8 weights stored as int8, then packed once for the active kernel path's GEMM.
void IntModel::prepare() {
  narrow_linear_weights(lowered_.graph);
  // The reference path runs the graph exactly as lowered; the others compute a repeated node once.
  if (kernels::active_kernel_path() != kernels::KernelPath::Ref) merged_nodes_ = merge_duplicate_nodes(lowered_.graph);
  // Activations at their grid's width where only the int8 GEMM reads them; the reference path
  // runs the IntGraph exactly as lowered (every value int32).
  const CodeStorage plan =
      kernels::active_kernel_path() == kernels::KernelPath::Ref ? CodeStorage{} : plan_code_storage(lowered_.graph);
  exec_ = std::make_unique<Executor>(lowered_.graph, find_int_op, int_node_preparer(plan));
  for (const Value& v : lowered_.graph.values) {
    if (v.constant) continue;
    int64_t n = 1;
    for (int64_t d : v.shape) n = d > 0 && n <= (int64_t{1} << 40) / d ? n * d : n;
    largest_value_bytes_ = std::max<int64_t>(largest_value_bytes_, n * 4);  // int32 values
  }
}

bool IntModel::runs_chunks_side_by_side() const {
  return num_threads() > 1 && largest_value_bytes_ <= kSideBySideChunkBytes;
}

int64_t IntModel::side_by_side_chunk_rows(int64_t max_batch) const {
  const int64_t per_image = std::max<int64_t>(1, largest_value_bytes_ / std::max<int64_t>(model_batch_, 1));
  int64_t rows = 1;
  while (rows * 2 <= max_batch && rows * 2 * per_image <= kSideBySideChunkBytes) rows *= 2;
  return rows;
}

// One chunk of exactly the model's batch: the image to centered integer codes of the input grid
// (the boundary), then the IntGraph.
Tensor IntModel::run_chunk(const Tensor& chunk, IntRunStats* stats) const {
  const Tensor x = chunk.cast(DType::Float32);
  const QuantParams& ip = lowered_.input;
  Tensor q(DType::Int32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) q.data<int32_t>()[i] = ip.quantize(x.data<float>()[i]) - ip.zero_point;
  return run_graph(std::move(q), stats);
}

// The IntGraph on codes `q`, its counts added to `stats`; a merged node counts what the node doing
// its work counted (int_merge.h).
Tensor IntModel::run_graph(Tensor q, IntRunStats* stats) const {
  if (!stats || merged_nodes_.empty())
    return checked_output(lowered_.graph.source, model_batch_, exec_->run({std::move(q)}, nullptr, stats).at(0));
  IntRunStats run_stats;
  Tensor y = checked_output(lowered_.graph.source, model_batch_, exec_->run({std::move(q)}, nullptr, &run_stats).at(0));
  for (const auto& [merged, kept] : merged_nodes_) {
    const auto it = run_stats.per_node.find(kept);
    if (it != run_stats.per_node.end()) run_stats.per_node[merged] = it->second;
  }
  for (const auto& [node, c] : run_stats.per_node) stats->per_node[node].add(c);
  return y;
}

Tensor IntModel::run_integer(const Tensor& images, IntRunStats* stats) {
  const int64_t n = images.rank() > 0 ? images.shape()[0] : 0;
  // Chunks of the model's batch side by side, one per thread, each op serial inside (nested
  // parallel_for), when there are at least two of them: a chunk's ops are then too small to share
  // between cores at a profit (a batch-1 model, export's default, always; a small model at any
  // batch), and no thread waits for another inside an op. Counts per chunk, summed in chunk order.
  if (n >= 2 * model_batch_ && runs_chunks_side_by_side()) {
    if (stats && n % model_batch_) zero_row_counts();  // measured here, read by the threads
    const int64_t chunks = (n + model_batch_ - 1) / model_batch_;
    std::vector<IntRunStats> per(stats ? static_cast<size_t>(chunks) : 0);
    Tensor y = run_chunks_in_parallel(images, model_batch_, [&](const Tensor& chunk, int64_t valid, int64_t i) {
                 if (!stats) return std::vector<Tensor>{run_chunk(chunk, nullptr)};
                 IntRunStats& mine = per[static_cast<size_t>(i)];
                 Tensor out = run_chunk(chunk, &mine);
                 if (valid < model_batch_) subtract_padding_rows(mine, model_batch_ - valid);
                 return std::vector<Tensor>{std::move(out)};
               }).at(0);
    if (stats)
      for (const auto& one : per)
        for (const auto& [node, c] : one.per_node) stats->per_node[node].add(c);
    return y;
  }
  return run_in_chunks(images, model_batch_, [&](const Tensor& chunk, int64_t valid) {
           if (!stats || valid == model_batch_) return std::vector<Tensor>{run_chunk(chunk, stats)};
           // Truncation counts of real images only: the zero-padded rows are taken out again.
           IntRunStats chunk_stats;
           Tensor y = run_chunk(chunk, &chunk_stats);
           subtract_padding_rows(chunk_stats, model_batch_ - valid);
           for (const auto& [node, s] : chunk_stats.per_node) stats->per_node[node].add(s);
           return std::vector<Tensor>{std::move(y)};
         }).at(0);
}

// Images are independent rows (no op of a ViT mixes the batch), so every zero-padded row costs
// exactly 1/batch of what a chunk of zero images costs, per node: measured once, then subtracted.
const IntRunStats& IntModel::zero_row_counts() {
  if (!zero_row_stats_) {
    const Shape& s = lowered_.graph.value(lowered_.graph.inputs.at(0)).shape;
    IntRunStats zeros;
    run_graph(Tensor(DType::Int32, s), &zeros);
    auto per_row = std::make_unique<IntRunStats>();
    for (const auto& [node, z] : zeros.per_node) {
      // Not a qvit bug but a model (from a file) whose ops mix the images of a batch.
      if (z.events % static_cast<uint64_t>(model_batch_) || z.elements % static_cast<uint64_t>(model_batch_))
        throw Error(lowered_.graph.source + ": node '" + node + "': truncation counts of a zero batch are not per image " +
                    "(the model mixes the images of a batch)");
      per_row->per_node[node] = {z.events / static_cast<uint64_t>(model_batch_),
                                 z.elements / static_cast<uint64_t>(model_batch_)};
    }
    zero_row_stats_ = std::move(per_row);
  }
  return *zero_row_stats_;
}

void IntModel::subtract_padding_rows(IntRunStats& stats, int64_t padded_rows) {
  const IntRunStats& per_row = zero_row_counts();
  const auto rows = static_cast<uint64_t>(padded_rows);
  for (auto& [node, s] : stats.per_node) {
    auto it = per_row.per_node.find(node);
    if (it == per_row.per_node.end()) continue;
    s.events -= std::min(s.events, it->second.events * rows);
    s.elements -= std::min(s.elements, it->second.elements * rows);
  }
}

Tensor IntModel::run(const Tensor& images, IntRunStats* stats) {
  const Tensor y = run_integer(images, stats);
  // Boundary: integer logits to real numbers, one scale per class (or one for all).
  const LoweredModel::OutputScale& s = lowered_.outputs.at(0);
  if (s.scales.size() > 1 && (s.axis < 0 || s.axis >= y.rank() || y.shape()[s.axis] != static_cast<int64_t>(s.scales.size())))
    throw Error(lowered_.graph.source + ": " + std::to_string(s.scales.size()) + " output scales along axis " +
                std::to_string(s.axis) + " do not fit the output of shape " + shape_str(y.shape()));
  Tensor out(DType::Float32, y.shape());
  int64_t inner = 1;
  if (s.scales.size() > 1)
    for (int a = s.axis + 1; a < y.rank(); ++a) inner *= y.shape()[a];
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double sc = s.scales.size() == 1 ? s.scales[0] : s.scales[static_cast<size_t>((i / inner) % static_cast<int64_t>(s.scales.size()))];
    out.data<float>()[i] = static_cast<float>(y.data<int32_t>()[i] * sc);
  }
  return out;
}

}  // namespace qvit
