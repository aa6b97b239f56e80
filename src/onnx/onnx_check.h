#pragma once
// The ONNX checker on a file, for tests and tools that must not see ONNX headers themselves.
#include <string>

namespace qvit {

// Parses `path` and runs onnx::checker::check_model (and, with `infer_shapes`, ONNX's strict shape
// inference, which only checks ops of registered domains). Throws qvit::Error with one line.
void check_onnx_file(const std::string& path, bool infer_shapes = false);

}  // namespace qvit
