#!/usr/bin/python3
"""Writes the hand-made regression inputs of the corpus-replay test (tests/golden/fuzz/<surface>/regress_*):
one or more per defect class of issue 9 (rank-0 inputs, Conv attributes, shape arithmetic, declared sizes
trusted before the data, exceptions that are not qvit::Error, deep JSON, decompression bombs), each a few
hundred bytes. Inputs the fuzzers found are added next to them by scripts/fuzz.sh --keep (minimized).
Deterministic: re-running rewrites the same bytes."""
import gzip
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.join(REPO, "tests", "golden", "fuzz")


def put(surface, name, data):
    d = os.path.join(ROOT, surface)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="qvit-regress")
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, dtype=TensorProto.FLOAT, shape=()):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def declared_only(name, dtype, dims):
    """An initializer that declares `dims` but carries no data (or too little)."""
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = b"\0" * 4
    return t


def onnx_inputs():
    # Rank-0 tensors into ops that take an axis (folded: every input is an initializer).
    s = const("s", np.array(1.5, dtype=np.float32))
    put("onnx", "regress_rank0_concat.onnx",
        model([helper.make_node("Concat", ["s", "s"], ["y"], axis=0)], [], [vi("y")], [s]))
    put("onnx", "regress_rank0_split.onnx",
        model([helper.make_node("Split", ["s"], ["y", "z"], axis=0)], [], [vi("y"), vi("z")], [s]))
    put("onnx", "regress_rank0_argmax.onnx",
        model([helper.make_node("ArgMax", ["s"], ["y"], axis=0)], [], [vi("y", TensorProto.INT64)], [s]))
    for op in ["ReduceMean", "ReduceSum", "ReduceMax"]:
        attrs = {"keepdims": 1}
        if op != "ReduceSum":
            attrs["axes"] = [0]
        ins = ["s"] + (["ax"] if op == "ReduceSum" else [])
        inits = [s] + ([const("ax", np.array([0], dtype=np.int64))] if op == "ReduceSum" else [])
        put("onnx", f"regress_rank0_{op.lower()}.onnx",
            model([helper.make_node(op, ins, ["y"], **attrs)], [], [vi("y")], inits))
    # 1-D Conv (valid) and Conv attribute lists of the wrong length / zero strides.
    w1 = const("w", np.ones((2, 1, 3), dtype=np.float32))
    put("onnx", "regress_conv1d.onnx",
        model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1], strides=[1])],
              [vi("x", shape=[1, 1, 8])], [vi("y")], [w1]))
    w2 = const("w", np.ones((2, 1, 3, 3), dtype=np.float32))
    put("onnx", "regress_conv_short_pads.onnx",
        model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1])],
              [vi("x", shape=[1, 1, 8, 8])], [vi("y")], [w2]))
    put("onnx", "regress_conv_zero_stride.onnx",
        model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0])],
              [vi("x", shape=[1, 1, 8, 8])], [vi("y")], [w2]))
    put("onnx", "regress_conv_short_strides.onnx",
        model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[1], dilations=[1, 1, 1])],
              [vi("x", shape=[1, 1, 8, 8])], [vi("y")], [w2]))
    # Shape arithmetic: an initializer declared [2^32, 2^32] without data, sliced; Reshape overflow.
    big = declared_only("big", TensorProto.FLOAT, [1 << 32, 1 << 32])
    st, en = const("st", np.array([0], dtype=np.int64)), const("en", np.array([1], dtype=np.int64))
    put("onnx", "regress_slice_huge_declared.onnx",
        model([helper.make_node("Slice", ["big", "st", "en"], ["y"])], [], [vi("y")], [big, st, en]))
    shp = const("shp", np.array([1 << 40, 1 << 40, -1], dtype=np.int64))
    put("onnx", "regress_reshape_overflow.onnx",
        model([helper.make_node("Reshape", ["x", "shp"], ["y"])], [vi("x", shape=[2, 4])], [vi("y")], [shp]))
    # Declared sizes trusted before the data: [2^31] float, [2^33] float64, ConstantOfShape(2^31).
    put("onnx", "regress_declared_2e31.onnx",
        model([helper.make_node("Identity", ["big"], ["y"])], [], [vi("y")],
              [declared_only("big", TensorProto.FLOAT, [1 << 31])]))
    put("onnx", "regress_declared_2e33_f64.onnx",
        model([helper.make_node("Identity", ["big"], ["y"])], [], [vi("y", TensorProto.DOUBLE)],
              [declared_only("big", TensorProto.DOUBLE, [1 << 33])]))
    put("onnx", "regress_constantofshape_2e31.onnx",
        model([helper.make_node("ConstantOfShape", ["shp"], ["y"])], [], [vi("y")],
              [const("shp", np.array([1 << 31], dtype=np.int64))]))
    put("onnx", "regress_expand_huge.onnx",
        model([helper.make_node("Expand", ["x", "shp"], ["y"])], [vi("x", shape=[1])], [vi("y")],
              [const("shp", np.array([1 << 20, 1 << 20], dtype=np.int64))]))
    # Range on bool inputs.
    b = const("b", np.array(True))
    put("onnx", "regress_range_bool.onnx",
        model([helper.make_node("Range", ["b", "b", "b"], ["y"])], [], [vi("y", TensorProto.BOOL)], [b]))


def npy_header(descr, shape):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()


def npy_inputs():
    put("npy", "regress_declares_8gib.npy", npy_header("<f4", "(2147483648,)") + b"\0" * 16)
    put("npy", "regress_shape_overflow.npy", npy_header("<f4", "(4611686018427387904, 2, 4)") + b"\0" * 16)
    put("npy", "regress_huge_batch_empty.npy", npy_header("<f4", "(4611686018427387904, 0, 4)"))
    put("npy", "regress_long_header.npy", npy_header("<f4", "(" + "1, " * 20000 + ")"))
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(3, 4))
    put("npy", "seed_small.npy", buf.getvalue())


def idx_inputs():
    put("idx", "regress_dims_overflow.idx", bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + b"\0" * 8)
    put("idx", "regress_dims_overflow_labels.idx", bytes([0, 0, 8, 1]) + b"\xff\xff\xff\xff" + b"\0" * 8)
    imgs = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 4, 4) + bytes(range(32))
    put("idx", "seed_images.idx", imgs)
    put("idx", "seed_images.idx.gz", gzip.compress(imgs, mtime=0))
    put("idx", "seed_labels.idx", bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes([1, 2, 3]))


def json_inputs():
    calib = open(os.path.join(REPO, "tests", "golden", "fuzz_models", "tiny_vit.calib.json")).read()
    put("calib_json", "seed_tiny_vit.calib.json", calib)
    put("calib_lower", "seed_tiny_vit.calib.json", calib)
    c = json.loads(calib)
    # A per-channel zero_point list shorter than its scales.
    short = json.loads(calib)
    for w in short.get("weights", []):
        if isinstance(w.get("scale"), list) and len(w["scale"]) > 1:
            w["zero_point"] = [0] * (len(w["scale"]) - 1)
            break
    put("calib_json", "regress_short_zero_point.calib.json", json.dumps(short))
    put("calib_lower", "regress_short_zero_point.calib.json", json.dumps(short))
    put("calib_json", "regress_number_1e999.calib.json", calib.replace('"bits": 8', '"bits": 1e999', 1))
    put("calib_lower", "regress_number_1e999.calib.json", calib.replace('"bits": 8', '"bits": 1e999', 1))
    put("calib_json", "regress_huge_unsigned.calib.json", calib.replace('"bits": 8', '"bits": 18446744073709551615', 1))
    deep = "[" * 100000 + "]" * 100000
    put("calib_json", "regress_deep.calib.json", '{"format": ' + deep + "}")
    for name in sorted(os.listdir(os.path.join(REPO, "configs", "recipes"))):
        put("recipe", "seed_" + name, open(os.path.join(REPO, "configs", "recipes", name)).read())
    w8 = open(os.path.join(REPO, "configs", "recipes", "w8a8.json")).read()
    put("recipe", "regress_deep.json", '{"format": ' + deep + "}")
    put("recipe", "regress_number_1e999.json", w8.replace("8", "1e999", 1))
    put("recipe", "regress_long_unknown_key.json", '{"' + "k" * 100000 + '": 1}')
    put("recipe", "regress_invalid_utf8.json", b'{"format": "\xff\xfe"}')
    for name in ["fmnist.json", "imagenet.json", "mnist.json"]:
        put("preprocess_config", "seed_" + name, open(os.path.join(REPO, "configs", name)).read())
    fm = open(os.path.join(REPO, "configs", "fmnist.json")).read()
    put("preprocess_config", "regress_deep.json", '{"name": ' + deep + "}")
    put("preprocess_config", "regress_number_1e999.json", fm.replace('"height": 28', '"height": 1e999'))
    put("preprocess_config", "regress_huge_unsigned.json", fm.replace('"height": 28', '"height": 18446744073709551615'))


def image_inputs():
    img = Image.new("RGB", (8, 8), (120, 30, 200))
    jb = io.BytesIO()
    img.save(jb, format="JPEG", quality=90)
    jpeg = bytearray(jb.getvalue())
    put("image", "seed_8x8.jpg", bytes(jpeg))
    # Declare 30000×30000 in the SOF0 segment (height, width at offset +5 of the marker).
    at = jpeg.find(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, at + 5, 30000, 30000)
    put("image", "regress_bomb_30000.jpg", bytes(jpeg))
    pb = io.BytesIO()
    img.save(pb, format="PNG")
    png = bytearray(pb.getvalue())
    put("image", "seed_8x8.png", bytes(png))
    struct.pack_into(">II", png, 16, 30000, 30000)
    struct.pack_into(">I", png, 29, zlib.crc32(bytes(png[12:29])))
    put("image", "regress_bomb_30000.png", bytes(png))
    bb = io.BytesIO()
    img.save(bb, format="BMP")
    bmp = bytearray(bb.getvalue())
    put("image", "seed_8x8.bmp", bytes(bmp))
    struct.pack_into("<ii", bmp, 18, 30000, 30000)
    put("image", "regress_bomb_30000.bmp", bytes(bmp))
    put("image", "regress_bomb_30000.ppm", b"P6\n30000 30000\n255\n" + b"\0" * 64)
    put("image", "regress_empty.png", b"")
    lst = "\n".join(f"img_{i}.png {i % 10}" for i in range(5)) + "\n"
    put("image_list", "seed_list.txt", lst)
    put("image_list", "regress_label_overflow.txt", "a.png 99999999999999999999999\n")
    put("image_list", "regress_negative_label.txt", "a.png -1\n")


def seeds():
    """Starting points: the tiny model and its export, and a few byte strings for the two
    surfaces whose input is a list of choices rather than a file."""
    models = os.path.join(REPO, "tests", "golden", "fuzz_models")
    put("onnx", "seed_tiny_vit.onnx", open(os.path.join(models, "tiny_vit.onnx"), "rb").read())
    put("int_onnx", "seed_tiny_vit.int.onnx", open(os.path.join(models, "tiny_vit.int.onnx"), "rb").read())
    rng = np.random.default_rng(9)
    for k in range(4):
        put("onnx_struct", f"seed_{k}", rng.integers(0, 256, 16 + 24 * k, dtype=np.uint8).tobytes())
        put("int_onnx_mutate", f"seed_{k}", rng.integers(0, 256, 8 + 8 * k, dtype=np.uint8).tobytes())


def main():
    seeds()
    onnx_inputs()
    npy_inputs()
    idx_inputs()
    json_inputs()
    image_inputs()
    print("wrote", sum(len(f) for _, _, f in os.walk(ROOT)), "files under", ROOT)


if __name__ == "__main__":
    sys.exit(main())
