#include "onnx/onnx_check.h"

#include <onnx/shape_inference/implementation.h>

#include "onnx/onnx_proto_util.h"

namespace qvit {

void check_onnx_file(const std::string& path, bool infer_shapes) {
  onnx::ModelProto m = onnx_util::read_model(path);
  onnx_util::check_model_or_throw(m, path);
  if (!infer_shapes) return;
  try {
    onnx::ShapeInferenceOptions options{/*check_type=*/true, /*error_mode=*/1, /*enable_data_propagation=*/false};
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (auto& ch : msg)
      if (ch == '\n') ch = ' ';
    throw Error(path + ": ONNX shape inference: " + msg);
  }
}

}  // namespace qvit
