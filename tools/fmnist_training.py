"""What the bundled models' training scripts share (tools/train_deit_fmnist.py, tools/train_swin_fmnist.py):
the command-line options of training, the AdamW + warmup/cosine loop, the ONNX export, and the run itself —
train (or resume from a checkpoint), evaluate on the 10k test split, export, write the metrics JSON.
"""
import json
import math
import os
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn as nn

import fmnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_training_args(ap, name, epochs, opset):
    """Options of every training script; `name` (deit_fmnist, swin_fmnist) sets the output paths."""
    ap.add_argument("--data", default=fmnist.DEFAULT_ROOT)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--clip-grad", type=float, default=1.0)
    ap.add_argument("--no-augment", action="store_true", help="no augmentation at all")
    ap.add_argument("--crop-pad", type=int, default=0, help="random 28x28 crop from the image zero-padded by this (0: no crop)")
    ap.add_argument("--no-flip", action="store_true", help="no random horizontal flip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N train images (smoke tests)")
    ap.add_argument("--eval-every", type=int, default=0, help="evaluate on the test split every N epochs (logging only)")
    ap.add_argument("--opset", type=int, default=opset)
    ap.add_argument("--onnx", default=os.path.join(REPO, "models", name + ".onnx"))
    ap.add_argument("--metrics", default=os.path.join(REPO, "models", name + ".metrics.json"))
    ap.add_argument("--ckpt", default=f"/tmp/qvit_ckpt/{name}.pt")
    ap.add_argument("--resume-from", default="", help="skip training, load this state_dict and export/evaluate")


def log(msg):
    print(msg, flush=True)


def prepare(args):
    """Seeds and threads, then the train and test splits (the test split also on args._test, for --eval-every)."""
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    train_x, train_y = fmnist.load_split(args.data, "train")
    test_x, test_y = fmnist.load_split(args.data, "t10k")
    if args.train_limit:
        train_x, train_y = train_x[:args.train_limit], train_y[:args.train_limit]
    args._test = (test_x, test_y)
    return train_x, train_y, test_x, test_y


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train(model, args, train_x, train_y):
    loader = fmnist.BatchLoader(train_x, train_y, batch_size=args.batch_size, shuffle=True,
                                augment=not args.no_augment, pad=args.crop_pad, flip=not args.no_flip,
                                seed=args.seed, drop_last=True)
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.999))
    steps_per_epoch = len(loader)
    total = args.epochs * steps_per_epoch
    warm = int(args.warmup_epochs * steps_per_epoch)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))

    crit = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    step = 0
    for ep in range(args.epochs):
        model.train()
        t0 = time.time()
        tot_loss = 0.0
        correct = 0
        seen = 0
        for xb, yb in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(xb)
            loss = crit(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            opt.step()
            step += 1
            tot_loss += float(loss) * yb.shape[0]
            correct += int((logits.argmax(1) == yb).sum())
            seen += yb.shape[0]
        msg = (f"epoch {ep + 1}/{args.epochs} loss {tot_loss / seen:.4f} train_acc {100.0 * correct / seen:.2f}% "
               f"lr {lr_at(step - 1):.2e} time {time.time() - t0:.1f}s")
        if args.eval_every and ((ep + 1) % args.eval_every == 0) and ep + 1 < args.epochs:
            m = fmnist.evaluate(model, *args._test)
            msg += f" test_top1 {m['top1']:.2f}%"
        log(msg)


def augment_desc(args):
    parts = []
    if not args.no_augment and args.crop_pad:
        parts.append(f"random 28x28 crop from the image zero-padded by {args.crop_pad}")
    if not args.no_augment and not args.no_flip:
        parts.append("random horizontal flip")
    return ", ".join(parts) if parts else None


def export_onnx(model, path, opset):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    tmp = path + ".tmp"
    torch.onnx.export(model, dummy, tmp, opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    import onnx
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, path)
    return m


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def train_evaluate_export(args, name, model, hyperparameters, train_x, train_y, test_x, test_y):
    """Trains `model` (or loads --resume-from), evaluates it on the test split, exports it to ONNX and writes
    the metrics JSON that models/MODELS.md is made from."""
    t0 = time.time()
    c0 = time.process_time()
    train_cpu = None
    if args.resume_from:
        model.load_state_dict(torch.load(args.resume_from, map_location="cpu"))
        train_time = None
    else:
        train(model, args, train_x, train_y)
        train_time = time.time() - t0
        train_cpu = time.process_time() - c0
        log(f"training wall time: {train_time:.1f} s ({train_time / 60:.1f} min), process CPU time {train_cpu:.0f} s")
        os.makedirs(os.path.dirname(args.ckpt), exist_ok=True)
        torch.save(model.state_dict(), args.ckpt)
        log(f"checkpoint: {args.ckpt}")

    m = fmnist.evaluate(model, test_x, test_y)
    log(f"float (PyTorch, eval) on {m['samples']} test images: top-1 {m['top1']:.2f}% "
        f"({m['correct']} correct), top-5 {m['top5']:.2f}%")

    os.makedirs(os.path.dirname(args.onnx), exist_ok=True)
    export_onnx(model, args.onnx, args.opset)
    log(f"exported {args.onnx} (opset {args.opset}, checker ok, {os.path.getsize(args.onnx)} bytes)")

    old = {}
    if args.resume_from and os.path.exists(args.metrics):
        with open(args.metrics) as f:
            old = json.load(f)
    metrics = {
        "model": name,
        "onnx": os.path.relpath(args.onnx, REPO) if args.onnx.startswith(REPO) else args.onnx,
        "onnx_sha256": fmnist.file_sha256(args.onnx),
        "opset": args.opset,
        "framework": f"torch {torch.__version__}",
        **fmnist.accuracy_fields(m),
        "params": parameter_count(model),
        "hyperparameters": hyperparameters,
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "AdamW",
                     "lr": args.lr, "min_lr": args.min_lr, "schedule": "linear warmup + cosine",
                     "warmup_epochs": args.warmup_epochs, "weight_decay": args.weight_decay,
                     "label_smoothing": args.label_smoothing, "clip_grad": args.clip_grad,
                     "augment": augment_desc(args),
                     "seed": args.seed, "threads": args.threads, "train_images": int(len(train_y))},
        "train_time_s": round(train_time, 1) if train_time is not None else old.get("train_time_s"),
        "train_cpu_s": round(train_cpu, 1) if train_cpu is not None else old.get("train_cpu_s"),
        "command": old.get("command") if args.resume_from else
        f"tools/train_{name}.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    write_json(args.metrics, metrics)
    log(f"metrics: {args.metrics}")
