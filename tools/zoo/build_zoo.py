#!/usr/bin/python3
"""Build the qvit architecture zoo: small ViT-family models trained on Fashion-MNIST, exported to ONNX.

One module per family in tools/zoo/ (each defines FAMILY, DESCRIPTION, HYPERPARAMETERS, TRAIN, build()).
For every family: seed 0, train (AdamW + warmup/cosine, label smoothing 0.1, random horizontal flip, batch
128, 1 torch thread), evaluate in eval mode on the full 10k t10k split, save the state dict, export four
ONNX files and write the metrics JSON:

  <out>/<family>.pt              state_dict (re-export with --resume, no retraining)
  <out>/<family>_op13_dyn.onnx   opset 13, dynamic batch (traced with batch 1)
  <out>/<family>_op17_dyn.onnx   opset 17, dynamic batch
  <out>/<family>_op13_b2.onnx    opset 13, fixed batch 2
  <out>/<family>_op17_b3.onnx    opset 17, fixed batch 3
  <out>/<family>.metrics.json    params, top-1/top-5, training, per-file sha256/bytes/op counts/parity
  <out>/README.md                table over all families found in <out>

Every export is checked with onnx.checker and run with tools/onnx_numpy_ref.py (numpy ONNX interpreter) on
real test images; the max |ONNX - PyTorch| of the logits is recorded (dynamic files at batch 1 and 4).
Preprocessing: pixels/255, (x - 0.2860) / 0.3530, input 'input' [N,1,28,28], output 'logits' [N,10]
(the bundled preset configs/fmnist.json: `--preset fmnist`).
"""
import argparse
import importlib
import json
import os
import shlex
import sys
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zoo_common as zc  # noqa: E402

FAMILIES = ["tfenc_post_bf", "tfenc_post_sf", "preln_mha", "lucid", "deit_distill", "cct", "hybrid",
            "tv_vit", "tv_swin", "layerscale"]

TRAIN_DEFAULTS = {"epochs": 3, "batch_size": 128, "lr": 1.5e-3, "min_lr": 1e-5, "weight_decay": 0.05,
                  "warmup_epochs": 0.3, "label_smoothing": 0.1, "clip_grad": 1.0, "flip": True, "crop_pad": 0}


def rel(path):
    p = os.path.abspath(path)
    return os.path.relpath(p, zc.REPO) if p.startswith(zc.REPO + os.sep) else p


def build_family(name, args, data):
    train_x, train_y, test_x, test_y = data
    mod = importlib.import_module(name)
    assert mod.FAMILY == name
    torch.manual_seed(0)
    np.random.seed(0)
    model = mod.build()
    params = zc.fmnist_training.parameter_count(model)
    cfg = dict(TRAIN_DEFAULTS)
    cfg.update(getattr(mod, "TRAIN", {}))
    if args.epochs:
        cfg["epochs"] = args.epochs
    pt_path = os.path.join(args.out, name + ".pt")
    metrics_path = os.path.join(args.out, name + ".metrics.json")
    old = {}
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            old = json.load(f)
    zc.log(f"== {name}: {params} parameters")

    if args.resume:
        model.load_state_dict(torch.load(pt_path, map_location="cpu"))
        training = old.get("training")
        train_time, train_cpu, command = old.get("train_time_s"), old.get("train_cpu_s"), old.get("command")
        zc.log(f"  loaded {rel(pt_path)} (no training)")
    else:
        t0, c0 = time.time(), time.process_time()
        zc.train(model, cfg, train_x, train_y, seed=0)
        train_time, train_cpu = round(time.time() - t0, 1), round(time.process_time() - c0, 1)
        torch.save(model.state_dict(), pt_path)
        training = dict(cfg, optimizer="AdamW", schedule="linear warmup + cosine", seed=0, threads=args.threads,
                        augment="random horizontal flip" if cfg["flip"] else None,
                        train_images=int(len(train_y)),
                        losses=("mean of cross-entropy of head_cls and head_dist"
                                if hasattr(model, "train_outputs") else "cross-entropy"))
        command = "tools/zoo/build_zoo.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        zc.log(f"  training wall time {train_time:.1f} s, process CPU {train_cpu:.1f} s; saved {rel(pt_path)}")

    m = zc.fmnist.evaluate(model, test_x, test_y)
    zc.log(f"  PyTorch eval on {m['samples']} t10k images: top-1 {m['top1']:.2f}% ({m['correct']}), "
           f"top-5 {m['top5']:.2f}% ({m['correct_top5']})")

    files, failures = [], []
    for suffix, opset, batch in zc.EXPORTS:
        fname = f"{name}_{suffix}.onnx"
        path = os.path.join(args.out, fname)
        try:
            onnx_model = zc.export(model, path, opset, batch)
        except Exception as e:  # report, do not drop silently
            msg = f"{type(e).__name__}: {e}".strip().splitlines()[0][:500]
            zc.log(f"  EXPORT FAILED {fname}: {msg}")
            traceback.print_exc()
            failures.append({"file": fname, "opset": opset, "batch": batch or "dynamic", "error": msg})
            if os.path.exists(path):
                os.remove(path)
            continue
        entry = {"file": fname, "opset": opset, "batch": batch if batch else "dynamic",
                 "sha256": zc.fmnist.file_sha256(path), "bytes": os.path.getsize(path),
                 "op_counts": zc.op_counts(onnx_model)}
        if not args.no_verify:
            entry["numpy_ref_parity"] = [zc.numpy_parity(model, onnx_model, test_x, b)
                                         for b in ((1, 4) if batch is None else (batch,))]
        files.append(entry)
        par = entry.get("numpy_ref_parity", [])
        par_s = ", ".join(f"b{p['batch']} {p['max_abs_diff']:.2g}" if "max_abs_diff" in p else
                          f"b{p['batch']} {p['error']}" for p in par)
        zc.log(f"  exported {fname}: {entry['bytes']} bytes, {sum(entry['op_counts'].values())} nodes"
               + (f"; numpy-ref max|diff| {par_s}" if par_s else ""))

    metrics = {
        "family": name,
        "description": mod.DESCRIPTION,
        "module": f"tools/zoo/{name}.py",
        "params": params,
        "hyperparameters": mod.HYPERPARAMETERS,
        "framework": f"torch {torch.__version__}",
        "preprocessing": {"pixel_scale": 255.0, "mean": [zc.fmnist.MEAN], "std": [zc.fmnist.STD],
                          "input": "input [N,1,28,28] float32", "output": "logits [N,10]",
                          "config": "configs/fmnist.json"},
        **zc.fmnist.accuracy_fields(m),
        "epochs": training.get("epochs") if training else None,
        "training": training,
        "train_time_s": train_time,
        "train_cpu_s": train_cpu,
        "command": command,
        "state_dict": rel(pt_path),
        "files": files,
        "export_failures": failures,
    }
    zc.fmnist_training.write_json(metrics_path, metrics)
    zc.log(f"  metrics: {rel(metrics_path)}")
    return metrics


def write_readme(out):
    rows = []
    for name in FAMILIES:
        p = os.path.join(out, name + ".metrics.json")
        if os.path.exists(p):
            with open(p) as f:
                rows.append(json.load(f))
    lines = ["# qvit architecture zoo (Fashion-MNIST)", "",
             "Small ViT-family models, one per architecture style, trained on Fashion-MNIST for a few epochs and "
             "exported to ONNX in four variants each (opset 13 / 17, dynamic batch / fixed batch 2 / fixed "
             "batch 3). They exist to exercise the importer, calibration and integer lowering on many graph "
             "shapes, not to be accurate. Generated by `tools/zoo/build_zoo.py` (do not edit by hand); "
             "preprocessing config: `configs/fmnist.json` (`--preset fmnist`) (pixels/255, mean 0.2860, std 0.3530, input "
             "`input` [N,1,28,28], output `logits` [N,10]).", "",
             "Top-1/top-5: PyTorch float model, eval mode, full 10k t10k split.", "",
             "| family | params | top-1 % | top-5 % | epochs | train s | ONNX files (bytes) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        files = "<br>".join(f"`{f['file']}` ({f['bytes']})" for f in r["files"])
        if r.get("export_failures"):
            files += "<br>" + "<br>".join(f"**export failed:** `{f['file']}`" for f in r["export_failures"])
        lines.append(f"| `{r['family']}` | {r['params']} | {r['top1']:.2f} | {r['top5']:.2f} | {r.get('epochs')} | "
                     f"{r.get('train_time_s')} | {files} |")
    lines += ["", "State dicts: `<family>.pt` (`tools/zoo/build_zoo.py --resume` re-exports from them without "
              "training). Per-file sha256, op-type counts and numpy-reference parity: `<family>.metrics.json`.",
              "", "## Families", ""]
    for r in rows:
        lines += [f"**`{r['family']}`** (`{r['module']}`): {r['description']}", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated families (default: all): " + ",".join(FAMILIES))
    ap.add_argument("--epochs", type=int, default=0, help="override every family's epochs")
    ap.add_argument("--resume", action="store_true", help="load <out>/<family>.pt and re-export (no training)")
    ap.add_argument("--out", default=os.path.join(zc.REPO, "models", "zoo"))
    ap.add_argument("--data", default=zc.fmnist.DEFAULT_ROOT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="first N train images only (smoke tests)")
    ap.add_argument("--no-verify", action="store_true", help="skip the numpy-reference parity runs")
    ap.add_argument("--readme-only", action="store_true", help="only regenerate <out>/README.md")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.readme_only:
        write_readme(args.out)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or FAMILIES
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}; known: {FAMILIES}")
    torch.set_num_threads(args.threads)
    train_x, train_y = zc.fmnist.load_split(args.data, "train")
    test_x, test_y = zc.fmnist.load_split(args.data, "t10k")
    if args.train_limit:
        train_x, train_y = train_x[:args.train_limit], train_y[:args.train_limit]
    failed = []
    for name in names:
        r = build_family(name, args, (train_x, train_y, test_x, test_y))
        failed += [f["file"] for f in r["export_failures"]]
    write_readme(args.out)
    zc.log(f"README: {rel(os.path.join(args.out, 'README.md'))}")
    if failed:
        zc.log(f"export failures: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
