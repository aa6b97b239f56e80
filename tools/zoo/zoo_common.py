"""Shared helpers of the architecture zoo (tools/zoo/build_zoo.py): training loop, ONNX export variants,
op counting and a numpy-reference parity check. Reuses tools/fmnist.py and tools/fmnist_training.py.
"""
import collections
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TOOLS)
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import fmnist  # noqa: E402
import fmnist_training  # noqa: E402

# (suffix, opset, fixed batch or None for a dynamic batch axis)
EXPORTS = [("op13_dyn", 13, None), ("op17_dyn", 17, None), ("op13_b2", 13, 2), ("op17_b3", 17, 3)]


def log(msg):
    print(msg, flush=True)


def train(model, cfg, train_x, train_y, seed=0):
    """AdamW + linear warmup / cosine, label smoothing, grad clipping (the bundled models' recipe,
    fmnist_training.train), with one extension: a model may define `train_outputs(x)` returning a list of
    logits tensors (e.g. DeiT's class and distillation heads); the loss is then the mean over them and the
    train accuracy is measured on their mean."""
    loader = fmnist.BatchLoader(train_x, train_y, batch_size=cfg["batch_size"], shuffle=True,
                                augment=cfg["flip"] or cfg["crop_pad"] > 0, pad=cfg["crop_pad"],
                                flip=cfg["flip"], seed=seed, drop_last=True)
    opt = torch.optim.AdamW(fmnist_training.param_groups(model, cfg["weight_decay"]), lr=cfg["lr"],
                            betas=(0.9, 0.999))
    steps_per_epoch = len(loader)
    total = cfg["epochs"] * steps_per_epoch
    warm = max(1, int(cfg["warmup_epochs"] * steps_per_epoch))

    def lr_at(step):
        if step < warm:
            return cfg["lr"] * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return cfg["min_lr"] + 0.5 * (cfg["lr"] - cfg["min_lr"]) * (1 + math.cos(math.pi * t))

    crit = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    step = 0
    multi = hasattr(model, "train_outputs")
    for ep in range(cfg["epochs"]):
        model.train()
        t0 = time.time()
        tot_loss, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            if multi:
                outs = model.train_outputs(xb)
                loss = sum(crit(o, yb) for o in outs) / len(outs)
                logits = sum(outs) / len(outs)
            else:
                logits = model(xb)
                loss = crit(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["clip_grad"] > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad"])
            opt.step()
            step += 1
            tot_loss += float(loss) * yb.shape[0]
            correct += int((logits.argmax(1) == yb).sum())
            seen += yb.shape[0]
        log(f"  epoch {ep + 1}/{cfg['epochs']} loss {tot_loss / seen:.4f} train_acc {100.0 * correct / seen:.2f}% "
            f"lr {lr_at(step - 1):.2e} time {time.time() - t0:.1f}s")


def export(model, path, opset, batch):
    """torch.onnx.export with the zoo's conventions; batch None = dynamic batch axis (traced with batch 1).
    Writes to a temporary file, runs onnx.checker, then renames. Returns the onnx.ModelProto."""
    import onnx
    model.eval()
    dummy = torch.zeros(batch or 1, 1, 28, 28)
    kwargs = {}
    if batch is None:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, tmp, opset_version=opset, input_names=["input"],
                          output_names=["logits"], do_constant_folding=True, **kwargs)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, path)
    return m


def op_counts(m):
    c = collections.Counter(n.op_type for n in m.graph.node)
    return {k: c[k] for k in sorted(c)}


def _maxpool_nchw(x, a):
    """MaxPool (2-D, float, explicit pads, no dilation/ceil_mode) for the numpy reference, which lacks it."""
    if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("MaxPool with ceil_mode/dilations/auto_pad")
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    t, l, b, r = a.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=-np.inf)
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return out


def _patch_numpy_ref(ref):
    if getattr(ref, "_zoo_patched", False):
        return
    base = ref.run_node

    def run_node(node, ins, opset):
        if node.op_type == "MaxPool" and len(node.output) == 1:
            return [_maxpool_nchw(ins[0], ref._attrs(node))]
        return base(node, ins, opset)

    ref.run_node = run_node
    ref._zoo_patched = True


def numpy_parity(model, m, images, batch):
    """Run the exported graph with tools/onnx_numpy_ref.py on `batch` normalized test images and return the
    max |ONNX(numpy) - PyTorch| of the logits (None if the reference interpreter lacks an operator)."""
    import onnx_numpy_ref
    _patch_numpy_ref(onnx_numpy_ref)  # + MaxPool (tools/onnx_numpy_ref.py has no MaxPool)
    x = torch.from_numpy(fmnist.normalize(images[:batch]))
    with torch.no_grad():
        want = model.eval()(x).numpy()
    try:
        got = onnx_numpy_ref.run(m, {"input": x.numpy()})["logits"]
    except NotImplementedError as e:
        return {"batch": batch, "error": str(e)}
    if got.shape != want.shape:
        return {"batch": batch, "error": f"shape {list(got.shape)} != {list(want.shape)}"}
    return {"batch": batch, "max_abs_diff": float(np.abs(got.astype(np.float64) - want).max()),
            "argmax_equal": bool((got.argmax(1) == want.argmax(1)).all())}
