#!/usr/bin/python3
"""Write PyTorch-vs-ONNX parity cases in ONNX's test layout.

  <out>/<case>/model.onnx
  <out>/<case>/test_data_set_0/input_0.pb    (onnx TensorProto, numpy_helper.from_array)
  <out>/<case>/test_data_set_0/output_0.pb   (the PyTorch output for that input)
  <out>/<case>/meta.json                     (opset, max |logit|, shapes, how the case was made)

Cases (--case, repeatable; 'small' = the committed ones, 'big' = the ImageNet-size ones, 'all'):
  deit_s_op13, deit_s_op17  torchvision VisionTransformer(224, patch 16, 12 layers, 6 heads, dim 384,
                            mlp 1536), random weights (seed 0), input [2,3,224,224] ~ N(0,1)
  swin_t_op17               torchvision swin_t(weights=None), random weights (seed 0), input [1,3,224,224]
  vit_tiny_op13/_op17       VisionTransformer(32, patch 8, 2 layers, 2 heads, dim 32, mlp 64, 10 classes), batch 3
  swin_tiny_op17            SwinTransformer(patch 4, dim 16, depths [2,2], heads [1,2], window 4, 10 classes),
                            32x32 input (8x8 grid: 2x2 windows, shifted block exercised), batch 2
  deit_fmnist, swin_fmnist  the bundled models/*.onnx (model.onnx is a relative symlink to it, meta.json has
                            its sha256) with the first 4 Fashion-MNIST test images as input;
                            outputs from the training checkpoints in /tmp/qvit_ckpt/, and always checked
                            against a numpy run of the copied ONNX (tools/onnx_numpy_ref.py)

Random-weight cases: after torchvision's own init (torch.manual_seed(0)), parameters that torchvision
initializes to exact constants are perturbed deterministically, so that a bug that ignores them shows up:
zero-initialized tensors (the classification head, class token, zero biases) get N(0, 0.02^2), LayerNorm
weight 1 + N(0, 0.1^2) and bias N(0, 0.05^2), and the classification head is redrawn from N(0, 1/fan_in)
with bias N(0, 0.1^2) so that logits are of order 1 (with torchvision's init the ViT head is all zeros and
every logit is exactly 0).

Exporter notes (torch 1.13):
- nn.MultiheadAttention (torchvision ViT) takes a fused fast path under torch.no_grad() that has no ONNX
  symbolic (aten::_native_multi_head_attention). Export and the reference forward run with autograd enabled,
  which selects the regular decomposed path.
- torchvision's Swin calls F.dropout(p=0.0) without a training flag, so the graph keeps Dropout nodes with
  ratio 0 and training_mode=True (an identity); its shift mask is built in the graph from Shape/Range/
  ScatterND/Mod/... (constant once the input shape is fixed). Both are left as the stock exporter writes them.

Prints one summary line; on failure, one error line and exit code 1.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import fmnist  # noqa: E402

SMALL = ["vit_tiny_op13", "vit_tiny_op17", "swin_tiny_op17", "deit_fmnist", "swin_fmnist"]
BIG = ["deit_s_op13", "deit_s_op17", "swin_t_op17"]
ALL = BIG + SMALL


@contextlib.contextmanager
def quiet(log_path):
    """Send everything written to fd 1/2 (C++ and Python warnings) to log_path."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.close(fd)


def perturb_(model, seed):
    import torch
    import torch.nn as nn
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.LayerNorm) and mod.elementwise_affine:
                mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.05 * torch.randn(mod.bias.shape, generator=g))
        for name, p in model.named_parameters():
            if p.numel() and bool((p == 0).all()):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
        # classification head ~ N(0, 1/fan_in): logits of order 1, so relative errors are meaningful
        head = model.head if hasattr(model, "head") else model.heads.head
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) / head.in_features ** 0.5)
        head.bias.copy_(0.1 * torch.randn(head.bias.shape, generator=g))


def build(case, seed, args):
    """Return (model, input tensor, info dict)."""
    import numpy as np
    import torch
    from torchvision.models import swin_transformer as tvswin
    from torchvision.models.vision_transformer import VisionTransformer

    info = {}
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if case.startswith("deit_s_"):
        cfg = dict(image_size=224, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536)
        model = VisionTransformer(**cfg)
        perturb_(model, seed)
        x = torch.randn(2, 3, 224, 224, generator=gen)
        info["architecture"] = dict(cfg, cls="torchvision.models.vision_transformer.VisionTransformer",
                                    num_classes=1000)
    elif case.startswith("vit_tiny_"):
        cfg = dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
        model = VisionTransformer(**cfg)
        perturb_(model, seed)
        x = torch.randn(3, 3, 32, 32, generator=gen)
        info["architecture"] = dict(cfg, cls="torchvision.models.vision_transformer.VisionTransformer")
    elif case == "swin_t_op17":
        from torchvision.models import swin_t
        model = swin_t(weights=None)
        perturb_(model, seed)
        x = torch.randn(1, 3, 224, 224, generator=gen)
        info["architecture"] = {"cls": "torchvision.models.swin_t(weights=None)", "patch_size": [4, 4],
                                "embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                                "window_size": [7, 7], "num_classes": 1000}
    elif case == "swin_tiny_op17":
        cfg = dict(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[1, 2], window_size=[4, 4], num_classes=10)
        model = tvswin.SwinTransformer(**cfg)
        perturb_(model, seed)
        x = torch.randn(2, 3, 32, 32, generator=gen)
        info["architecture"] = dict(cfg, cls="torchvision.models.swin_transformer.SwinTransformer", image_size=32)
    elif case in ("deit_fmnist", "swin_fmnist"):
        with open(os.path.join(args.models_dir, f"{case}.metrics.json")) as f:
            metrics = json.load(f)
        hp = metrics["hyperparameters"]
        ckpt = getattr(args, case.split("_")[0] + "_ckpt")
        if not os.path.exists(ckpt):
            raise FileNotFoundError(f"{ckpt}: training checkpoint not found (run tools/train_{case}.py first)")
        if case == "deit_fmnist":
            from train_deit_fmnist import DeiT
            model = DeiT(patch_size=hp["patch"], embed_dim=hp["dim"], depth=hp["depth"], num_heads=hp["heads"],
                         mlp_ratio=hp["mlp_ratio"])
        else:
            from train_swin_fmnist import build_swin
            model = build_swin(hp["patch"], hp["embed_dim"], hp["depths"], hp["heads"], hp["window"],
                               hp["mlp_ratio"], hp["stochastic_depth"])
        model.load_state_dict(torch.load(ckpt, map_location="cpu"))
        images, labels = fmnist.load_split(args.data, "t10k")
        idx = list(range(4))
        x = torch.from_numpy(fmnist.normalize(images[idx]))
        info["architecture"] = hp
        info["opset"] = metrics["opset"]
        info["bundled_model"] = metrics["onnx"]
        info["input_images"] = {"split": "t10k", "indices": idx, "labels": [int(labels[i]) for i in idx],
                                "preprocessing": "(x/255 - 0.2860)/0.3530"}
        info["float_top1_full_test"] = metrics["top1"]
    else:
        raise ValueError(f"unknown case {case!r} (known: {', '.join(ALL)})")
    if "opset" not in info:
        info["opset"] = int(case.rsplit("_op", 1)[1])
    return model.eval(), x, info


def shift_check(model, size):
    """For Swin models: which blocks really use the shifted (masked) windows at this input size."""
    from train_swin_fmnist import shift_report
    rep = shift_report(model, size)
    return [{"block": n, "grid": list(g), "window": list(w), "shift": list(e)} for n, g, w, e in rep]


def dumps(obj):
    """json.dumps with indent 2, but lists of scalars kept on one line."""
    import re
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[[^\[\]{}]*\]", lambda m: re.sub(r"\s*\n\s*", " ", m.group(0))
                  .replace("[ ", "[").replace(" ]", "]"), text)


def make_case(case, out_root, args, log_path):
    import numpy as np
    import onnx
    import torch
    import torchvision
    from onnx import numpy_helper

    torch.set_num_threads(args.threads)
    model, x, info = build(case, args.seed, args)
    opset = info["opset"]
    final = os.path.join(out_root, case)
    os.makedirs(out_root, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=f".{case}.", dir=out_root)
    try:
        onnx_path = os.path.join(tmpdir, "model.onnx")
        with torch.enable_grad():  # keeps nn.MultiheadAttention off its fused fast path (see module doc)
            if "bundled_model" in info:
                # the case must test the file we ship, without a second copy of it in the repository:
                # model.onnx is a relative symlink to models/<name>.onnx; the numpy run below proves that
                # it computes what the checkpoint computes
                bundled = os.path.join(REPO, info["bundled_model"])
                # tmpdir and final are siblings, so the same relative target works from both
                os.symlink(os.path.relpath(os.path.abspath(bundled), os.path.abspath(final)), onnx_path)
                info["bundled_sha256"] = fmnist.file_sha256(bundled)
            else:
                with quiet(log_path):
                    torch.onnx.export(model, x, onnx_path, opset_version=opset, input_names=["input"],
                                      output_names=["logits"],
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                      do_constant_folding=True)
            y = model(x).detach()
        m = onnx.load(onnx_path)
        onnx.checker.check_model(m)
        ds = os.path.join(tmpdir, "test_data_set_0")
        os.makedirs(ds)
        xin = x.numpy().astype(np.float32)
        yout = y.numpy().astype(np.float32)
        with open(os.path.join(ds, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(xin, "input").SerializeToString())
        with open(os.path.join(ds, "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(yout, "logits").SerializeToString())
        ops = {}
        for n in m.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        meta = {
            "case": case,
            "opset": opset,
            "max_abs_logit": float(np.abs(yout).max()),
            "input": {"name": "input", "shape": list(xin.shape), "dtype": "float32",
                      "max_abs": float(np.abs(xin).max())},
            "output": {"name": "logits", "shape": list(yout.shape), "dtype": "float32"},
            "dynamic_batch": True,
            "argmax": [int(v) for v in yout.argmax(axis=1)],
            "weights": ("trained checkpoint" if "bundled_model" in info else
                        f"random: torch.manual_seed({args.seed}) + torchvision init, constant-initialized "
                        f"parameters perturbed (see tools/make_parity_cases.py)"),
            "input_data": ("real Fashion-MNIST test images" if "input_images" in info else
                           f"N(0,1), torch.Generator().manual_seed({args.seed})"),
            "architecture": info["architecture"],
            "params": int(sum(p.numel() for p in model.parameters())),
            "onnx_ops": dict(sorted(ops.items())),
            "generator": f"tools/make_parity_cases.py --case {case}",
            "torch": torch.__version__, "torchvision": torchvision.__version__, "onnx": onnx.__version__,
            "suggested_tolerance": {"atol": 1e-4, "rtol": 1e-4},
        }
        for k in ("bundled_model", "bundled_sha256", "input_images", "float_top1_full_test"):
            if k in info:
                meta[k] = info[k]
        if "swin" in case:
            meta["swin_blocks"] = shift_check(model, x.shape[-1])
            if not any(sum(b["shift"]) > 0 for b in meta["swin_blocks"]):
                raise RuntimeError("no shifted-window block is exercised at this input size")
        with open(os.path.join(tmpdir, "meta.json"), "w") as f:
            f.write(dumps(meta) + "\n")
        if args.verify or "bundled_model" in info:
            from onnx_numpy_ref import check_case
            ok, worst = check_case(tmpdir, 1e-4, 1e-4)
            meta_v = f", numpy-ONNX vs PyTorch max diff {worst:.2g}"
            if not ok:
                raise RuntimeError(f"exported graph does not reproduce PyTorch (max diff {worst:.3g})")
        else:
            meta_v = ""
        for d, _, _ in os.walk(tmpdir):
            os.chmod(d, 0o755)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmpdir, final)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(final) for f in fs)
    link = ", model.onnx links to " + info["bundled_model"] if "bundled_model" in info else ""
    return f"{case} (opset {opset}, {size / 1e6:.2f} MB{link}, max|logit| {meta['max_abs_logit']:.3g}{meta_v})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "golden", "parity"),
                    help="parent folder; each case goes to OUT/<case>/ (default: tests/golden/parity)")
    ap.add_argument("--case", action="append", required=True,
                    help=f"case name, 'small', 'big' or 'all' (repeatable): {', '.join(ALL)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verify", action="store_true",
                    help="also run the written ONNX with tools/onnx_numpy_ref.py and compare (slow for big cases)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--models-dir", default=os.path.join(REPO, "models"),
                    help="where <case>.metrics.json of the bundled models are (fmnist cases)")
    ap.add_argument("--deit-ckpt", default="/tmp/qvit_ckpt/deit_fmnist.pt")
    ap.add_argument("--swin-ckpt", default="/tmp/qvit_ckpt/swin_fmnist.pt")
    args = ap.parse_args()

    cases = []
    for c in args.case:
        for name in {"small": SMALL, "big": BIG, "all": ALL}.get(c, [c]):
            if name not in ALL:
                print(f"make_parity_cases: error: unknown case {name!r} (known: {', '.join(ALL)}, small, big, all)",
                      file=sys.stderr)
                return 2
            if name not in cases:
                cases.append(name)
    t0 = time.time()
    fd, log_path = tempfile.mkstemp(prefix="make_parity_cases.", suffix=".log")
    os.close(fd)
    done = []
    try:
        for c in cases:
            done.append(make_case(c, args.out, args, log_path))
    except Exception as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        print(f"make_parity_cases: error: case {c}: {type(e).__name__}: {msg} (exporter log: {log_path})",
              file=sys.stderr)
        return 1
    os.unlink(log_path)
    print(f"make_parity_cases: wrote {len(done)} case(s) to {args.out} in {time.time() - t0:.1f} s: "
          + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
