#!/usr/bin/python3
"""Write the small, deliberately broken ONNX models that tests/e2e/cli_errors_test.cc feeds to qvit.

  valid.onnx                a tiny valid model (MatMul + Add + Softmax), input x [N,4], output y [N,3]
  truncated.onnx            valid.onnx cut in half
  ir_version_99.onnx        valid graph declaring ONNX IR version 99
  missing_initializer.onnx  MatMul reads weight 'W' that nothing defines
  unsupported_op.onnx       uses op 'NonMaxSuppression' (not a ViT op; qvit does not run it)
  custom_domain.onnx        a node in an unknown domain 'com.example'
  not_onnx.onnx             plain text
  sigmoid_mlp.onnx          a valid image classifier, input [N,1,28,28], Flatten → Linear → Sigmoid →
                            Linear: it runs in float, but Sigmoid has no integer-only form
  wide_head.onnx            image input [N,1,28,28], Flatten → Linear with 128 outputs (for a 10-class config)

Usage: tools/make_malformed_models.py [--out tests/golden/malformed]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def base_graph(nodes, initializers, name="g"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    return helper.make_graph(nodes, name, [x], [y], initializers)


def model(graph, ir_version=8, opset=17, check=True):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="qvit-tests")
    m.ir_version = ir_version
    if check:
        onnx.checker.check_model(m)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                  "tests", "golden", "malformed"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="fc/MatMul"),
             helper.make_node("Add", ["h", "B"], ["z"], name="fc/Add"),
             helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1)]
    valid = model(base_graph(nodes, [w, b]))
    data = valid.SerializeToString()

    def write(name, blob):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(blob)

    write("valid.onnx", data)
    write("truncated.onnx", data[: len(data) // 2])
    write("ir_version_99.onnx", model(base_graph(nodes, [w, b]), ir_version=99, check=False).SerializeToString())
    write("missing_initializer.onnx", model(base_graph(nodes, [b]), check=False).SerializeToString())
    nms = [helper.make_node("NonMaxSuppression", ["x", "x"], ["y"], name="nms")]
    write("unsupported_op.onnx", model(base_graph(nms, []), check=False).SerializeToString())
    custom = [helper.make_node("FancyOp", ["x"], ["y"], name="fancy", domain="com.example")]
    m = helper.make_model(base_graph(custom, []), opset_imports=[helper.make_opsetid("", 17),
                                                                 helper.make_opsetid("com.example", 1)])
    m.ir_version = 8
    write("custom_domain.onnx", m.SerializeToString())
    write("not_onnx.onnx", b"this is not an ONNX model\n")
    img = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])
    mlp_init = [numpy_helper.from_array((0.05 * rng.standard_normal((784, 16))).astype(np.float32), "W1"),
                numpy_helper.from_array(np.zeros(16, np.float32), "B1"),
                numpy_helper.from_array((0.3 * rng.standard_normal((16, 10))).astype(np.float32), "W2")]
    mlp = [helper.make_node("Flatten", ["input"], ["f"], name="flatten", axis=1),
           helper.make_node("MatMul", ["f", "W1"], ["h"], name="fc1/MatMul"),
           helper.make_node("Add", ["h", "B1"], ["hb"], name="fc1/Add"),
           helper.make_node("Sigmoid", ["hb"], ["s"], name="act/Sigmoid"),
           helper.make_node("MatMul", ["s", "W2"], ["logits"], name="fc2/MatMul")]
    write("sigmoid_mlp.onnx", model(helper.make_graph(mlp, "sigmoid_mlp", [img], [logits], mlp_init)).SerializeToString())
    wide_init = [numpy_helper.from_array((0.05 * rng.standard_normal((784, 128))).astype(np.float32), "W")]
    wide_out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 128])
    wide = [helper.make_node("Flatten", ["input"], ["f"], name="flatten", axis=1),
            helper.make_node("MatMul", ["f", "W"], ["logits"], name="head/MatMul")]
    write("wide_head.onnx", model(helper.make_graph(wide, "wide_head", [img], [wide_out], wide_init)).SerializeToString())
    print(f"wrote 10 models to {args.out}")


if __name__ == "__main__":
    main()
