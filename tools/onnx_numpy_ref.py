#!/usr/bin/python3
"""A small, slow, plain-numpy ONNX interpreter, for checking exports made by the qvit tools.

onnxruntime and onnx.reference are not available on this machine (python3-onnx 1.12), so the
tools use this to confirm that an exported graph computes what PyTorch computed. It covers the
operators that torch 1.13 emits for ViT / DeiT / Swin (opsets 13-17), float32 semantics, and
fails with a clear message on anything else.

CLI: onnx_numpy_ref.py CASE_DIR [CASE_DIR ...]   (ONNX test layout: model.onnx, test_data_set_0/)
prints, per case, the max abs difference to output_0.pb and exits non-zero above the tolerance.
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

try:
    from onnx.helper import tensor_dtype_to_np_dtype as _np_dtype
except ImportError:  # onnx < 1.13
    from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE as _MAP

    def _np_dtype(t):
        return _MAP[t]

_erf = np.frompyfunc(math.erf, 1, 1)


def _attrs(node):
    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def _slice(x, starts, ends, axes=None, steps=None):
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = int(a) % x.ndim
        d = x.shape[a]
        s, e, st = int(s), int(e), int(st)
        if s < 0:
            s += d
        if e < 0:
            e += d
        if st > 0:
            s = min(max(s, 0), d)
            e = min(max(e, 0), d)
            sl[a] = slice(s, e, st)
        else:
            s = min(max(s, -1), d - 1)
            e = min(max(e, -1), d - 1)
            sl[a] = slice(s, None if e < 0 else e, st)
    return x[tuple(sl)]


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    group = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, m, oh, ow), dtype=np.float32)
    mg = m // group
    for g in range(group):
        xg = x[:, g * cg:(g + 1) * cg]
        cols = np.empty((n, cg, kh, kw, oh, ow), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = xg[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
        wg = w[g * mg:(g + 1) * mg].reshape(mg, -1)
        out[:, g * mg:(g + 1) * mg] = np.einsum("ok,nkp->nop", wg, cols.reshape(n, cg * kh * kw, oh * ow),
                                                 optimize=True).reshape(n, mg, oh, ow)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _int_div(a, b):
    q = np.trunc(a.astype(np.float64) / b.astype(np.float64))
    return q.astype(np.result_type(a, b))


def run_node(node, ins, opset):
    op = node.op_type
    a = _attrs(node)
    x = ins[0] if ins else None
    if op == "Constant":
        if "value" in a:
            return [numpy_helper.to_array(a["value"])]
        for k, dt in (("value_float", np.float32), ("value_int", np.int64)):
            if k in a:
                return [np.array(a[k], dtype=dt)]
        for k, dt in (("value_floats", np.float32), ("value_ints", np.int64)):
            if k in a:
                return [np.array(list(a[k]), dtype=dt)]
        raise NotImplementedError("Constant without value")
    if op in ("Identity",):
        return [x]
    if op == "Dropout":
        training = len(ins) > 2 and ins[2] is not None and bool(ins[2])
        ratio = float(ins[1]) if len(ins) > 1 and ins[1] is not None else a.get("ratio", 0.5)
        if training and ratio != 0.0:
            raise NotImplementedError("Dropout in training mode with ratio > 0")
        return [x, np.ones(x.shape, dtype=bool)]
    if op == "Shape":
        s = np.array(x.shape, dtype=np.int64)
        start = a.get("start", 0)
        end = a.get("end", None)
        return [s[start:end]]
    if op == "Size":
        return [np.array(x.size, dtype=np.int64)]
    if op == "Gather":
        return [np.take(x, ins[1].astype(np.int64), axis=a.get("axis", 0))]
    if op == "Slice":
        if opset >= 10:
            return [_slice(x, ins[1], ins[2], ins[3] if len(ins) > 3 and ins[3] is not None else None,
                           ins[4] if len(ins) > 4 and ins[4] is not None else None)]
        return [_slice(x, a["starts"], a["ends"], a.get("axes"))]
    if op in ("Unsqueeze", "Squeeze"):
        axes = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("axes")
        if op == "Squeeze":
            if axes is None:
                return [np.squeeze(x)]
            return [np.squeeze(x, axis=tuple(int(v) % x.ndim for v in np.atleast_1d(axes)))]
        r = x.ndim + len(np.atleast_1d(axes))
        out = x
        for ax in sorted(int(v) % r for v in np.atleast_1d(axes)):
            out = np.expand_dims(out, ax)
        return [out]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(t) if t.ndim == 0 else t for t in ins], axis=a["axis"])]
    if op == "Cast":
        return [x.astype(_np_dtype(a["to"]))]
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Flatten":
        ax = a.get("axis", 1) % max(x.ndim, 1) if x.ndim else 0
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "And", "Or", "Max", "Min", "Mod"):
        y = ins[1]
        if op == "Add":
            r = x + y
        elif op == "Sub":
            r = x - y
        elif op == "Mul":
            r = x * y
        elif op == "Div":
            r = _int_div(x, y) if np.issubdtype(x.dtype, np.integer) else x / y
        elif op == "Pow":
            r = np.power(x, y).astype(x.dtype)
        elif op == "Equal":
            r = x == y
        elif op == "Less":
            r = x < y
        elif op == "Greater":
            r = x > y
        elif op == "And":
            r = np.logical_and(x, y)
        elif op == "Or":
            r = np.logical_or(x, y)
        elif op == "Max":
            r = x
            for t in ins[1:]:
                r = np.maximum(r, t)
        elif op == "Min":
            r = x
            for t in ins[1:]:
                r = np.minimum(r, t)
        else:
            r = np.fmod(x, y) if a.get("fmod", 0) else np.mod(x, y)
        if np.issubdtype(np.asarray(r).dtype, np.floating) and np.asarray(x).dtype == np.float32:
            r = np.asarray(r, dtype=np.float32)
        return [np.asarray(r)]
    if op == "Not":
        return [np.logical_not(x)]
    if op == "Where":
        return [np.where(x, ins[1], ins[2])]
    if op == "Sqrt":
        return [np.sqrt(x)]
    if op == "Exp":
        return [np.exp(x)]
    if op == "Tanh":
        return [np.tanh(x)]
    if op == "Sigmoid":
        return [(1.0 / (1.0 + np.exp(-x))).astype(x.dtype)]
    if op == "Relu":
        return [np.maximum(x, 0)]
    if op == "Neg":
        return [-x]
    if op == "Reciprocal":
        return [(1.0 / x).astype(x.dtype)]
    if op == "Erf":
        return [_erf(x.astype(np.float64)).astype(x.dtype)]
    if op == "ConstantOfShape":
        v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full([int(s) for s in x], v.reshape(-1)[0], dtype=v.dtype)]
    if op == "Expand":
        shape = np.broadcast_shapes(x.shape, tuple(int(s) for s in ins[1]))
        return [np.broadcast_to(x, shape).copy()]
    if op == "Tile":
        return [np.tile(x, [int(v) for v in ins[1]])]
    if op == "Range":
        return [np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype)]
    if op == "MatMul":
        return [np.matmul(x, ins[1])]
    if op == "Gemm":
        A = x.T if a.get("transA", 0) else x
        B = ins[1].T if a.get("transB", 0) else ins[1]
        r = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            r = r + a.get("beta", 1.0) * ins[2]
        return [r.astype(np.float32)]
    if op in ("ReduceMean", "ReduceSum", "ReduceMax"):
        axes = a.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = [int(v) for v in ins[1]]
        axes = None if axes is None or len(axes) == 0 else tuple(int(v) % x.ndim for v in axes)
        kd = bool(a.get("keepdims", 1))
        f = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max}[op]
        return [f(x, axis=axes, keepdims=kd).astype(x.dtype)]
    if op == "Softmax":
        ax = a.get("axis", -1 if opset >= 13 else 1)
        if opset < 13:
            raise NotImplementedError("Softmax before opset 13")
        e = np.exp(x - x.max(axis=ax, keepdims=True))
        return [(e / e.sum(axis=ax, keepdims=True)).astype(x.dtype)]
    if op == "LayerNormalization":
        ax = a.get("axis", -1) % x.ndim
        eps = a.get("epsilon", 1e-5)
        axes = tuple(range(ax, x.ndim))
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        var = (d * d).mean(axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + np.float32(eps))
        y = d * inv * ins[1]
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2]
        return [y.astype(x.dtype), mu, inv]
    if op == "ScatterND":
        if a.get("reduction", b"none") not in (b"none", "none"):
            raise NotImplementedError("ScatterND reduction")
        out = x.copy()
        idx = ins[1].astype(np.int64)
        upd = ins[2]
        k = idx.shape[-1]
        flat_idx = idx.reshape(-1, k)
        flat_upd = upd.reshape((flat_idx.shape[0],) + x.shape[k:])
        for i in range(flat_idx.shape[0]):
            out[tuple(flat_idx[i])] = flat_upd[i]
        return [out]
    if op == "Pad":
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = [int(v) for v in (ins[1] if opset >= 11 else a["pads"])]
        cval = ins[2] if opset >= 11 and len(ins) > 2 and ins[2] is not None else a.get("value", 0.0)
        if len(ins) > 3 and ins[3] is not None:
            raise NotImplementedError("Pad axes")
        r = x.ndim
        if any(p < 0 for p in pads):
            raise NotImplementedError("negative Pad")
        pw = [(pads[i], pads[i + r]) for i in range(r)]
        if mode == "constant":
            return [np.pad(x, pw, mode="constant", constant_values=np.asarray(cval).reshape(-1)[0]
                           if np.asarray(cval).size else 0)]
        return [np.pad(x, pw, mode={"reflect": "reflect", "edge": "edge"}[mode])]
    if op == "Conv":
        return [_conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "GlobalAveragePool":
        return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)]
    if op == "Split":
        ax = a.get("axis", 0)
        split = a.get("split")
        if split is None and len(ins) > 1 and ins[1] is not None:
            split = [int(v) for v in ins[1]]
        if split is None:
            n = len(node.output)
            split = [x.shape[ax] // n] * n
        return list(np.split(x, np.cumsum(split)[:-1], axis=ax))
    raise NotImplementedError(f"operator {op} (node {node.name})")


def run(model, feeds):
    """Run an onnx.ModelProto on a dict of numpy inputs; return a dict of all graph outputs."""
    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [13])
    env = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        ins = [env[n] if n else None for n in node.input]
        try:
            outs = run_node(node, ins, opset)
        except NotImplementedError:
            raise
        except Exception as e:  # name the node at fault
            raise RuntimeError(f"node {node.name} ({node.op_type}): {e}") from e
        for name, val in zip(node.output, outs):
            if name:
                env[name] = np.asarray(val)
    return {o.name: env[o.name] for o in model.graph.output}


def check_case(case_dir, atol=1e-4, rtol=1e-4):
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    ds = os.path.join(case_dir, "test_data_set_0")
    feeds = {}
    init_names = {i.name for i in model.graph.initializer}
    real_inputs = [i.name for i in model.graph.input if i.name not in init_names]
    for k, name in enumerate(real_inputs):
        t = onnx.TensorProto()
        with open(os.path.join(ds, f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[name] = numpy_helper.to_array(t)
    got = run(model, feeds)
    worst = 0.0
    ok = True
    for k, o in enumerate(model.graph.output):
        t = onnx.TensorProto()
        with open(os.path.join(ds, f"output_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        want = numpy_helper.to_array(t)
        g = got[o.name]
        if g.shape != want.shape:
            return False, float("inf")
        d = np.abs(g.astype(np.float64) - want.astype(np.float64))
        worst = max(worst, float(d.max()))
        ok = ok and bool(np.all(d <= atol + rtol * np.abs(want)))
    return ok, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    bad = 0
    for c in args.cases:
        ok, worst = check_case(c, args.atol, args.rtol)
        print(f"{'ok  ' if ok else 'FAIL'} {c}: max |numpy-ONNX - PyTorch| = {worst:.3g}")
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
