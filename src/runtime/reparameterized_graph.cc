#include "runtime/reparameterized_graph.h"

#include "calib/reparam.h"
#include "intgraph/lower.h"
#include "onnx/onnx_import.h"

namespace qvit {

Graph load_reparameterized(const std::string& model_path, const CalibrationResult& calib, int64_t batch_size,
                           bool allow_other_model) {
  if (!allow_other_model && !calib.model_sha256.empty() && file_sha256(model_path) != calib.model_sha256)
    throw Error(model_path + ": this calibration was made for another model file (" + calib.model + ", sha256 differs)");
  ImportOptions opt;
  opt.batch = batch_size;
  Graph g = import_onnx(model_path, opt);
  // A hostile or mismatched calibration is refused here, naming its file and field, before fake
  // quantization, QDQ export or lowering reads it (reparameterization keeps names and shapes).
  check_calibration_against_graph(g, calib);
  for (const auto& r : calib.reparams) apply_reparam(g, r);
  g.rebuild_index();
  return g;
}

}  // namespace qvit
