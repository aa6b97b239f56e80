#!/usr/bin/python3
"""Train a small DeiT-style ViT on Fashion-MNIST (CPU) and export it to ONNX.

Model (timm-style, written here): Conv2d patch embed -> class token concatenated in front ->
learned position embedding added -> pre-LN blocks (nn.LayerNorm, one qkv Linear, softmax
attention, MLP with exact erf GELU) -> final LayerNorm -> head on the class token.
Input [N,1,28,28] normalized as (x/255 - 0.2860)/0.3530.

Defaults (the bundled model): patch 7 (16 patches + class token), dim 128, depth 6, 4 heads, MLP ratio 2,
10 epochs, batch 128, AdamW lr 1.5e-3 (warmup 0.3 epoch, cosine), wd 0.05, label smoothing 0.1, random
horizontal flip, 1 torch thread. Patch 4 (--patch 4) learned much more slowly per CPU second here.

Outputs:
  models/deit_fmnist.onnx          (opset 13 by default: LayerNorm decomposed; input 'input', output 'logits', dynamic batch)
  models/deit_fmnist.metrics.json  (float top-1/top-5 on the 10k test split measured in PyTorch, time, command)
  /tmp/qvit_ckpt/deit_fmnist.pt    (state_dict, outside the repo)
"""
import argparse
import json
import math
import os
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PatchEmbed(nn.Module):
    def __init__(self, img_size=28, patch_size=4, in_chans=1, embed_dim=128):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)                      # [B, D, H', W']
        return x.flatten(2).transpose(1, 2)   # [B, N, D]


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class DeiT(nn.Module):
    def __init__(self, img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=128,
                 depth=6, num_heads=4, mlp_ratio=2.0):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train(model, args, train_x, train_y, log):
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=fmnist.DEFAULT_ROOT)
    ap.add_argument("--epochs", type=int, default=10)
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
    ap.add_argument("--patch", type=int, default=7)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N train images (smoke tests)")
    ap.add_argument("--eval-every", type=int, default=0, help="evaluate on the test split every N epochs (logging only)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--onnx", default=os.path.join(REPO, "models", "deit_fmnist.onnx"))
    ap.add_argument("--metrics", default=os.path.join(REPO, "models", "deit_fmnist.metrics.json"))
    ap.add_argument("--ckpt", default="/tmp/qvit_ckpt/deit_fmnist.pt")
    ap.add_argument("--resume-from", default="", help="skip training, load this state_dict and export/evaluate")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    def log(msg):
        print(msg, flush=True)

    train_x, train_y = fmnist.load_split(args.data, "train")
    test_x, test_y = fmnist.load_split(args.data, "t10k")
    if args.train_limit:
        train_x, train_y = train_x[:args.train_limit], train_y[:args.train_limit]
    args._test = (test_x, test_y)

    model = DeiT(patch_size=args.patch, embed_dim=args.dim, depth=args.depth, num_heads=args.heads,
                 mlp_ratio=args.mlp_ratio)
    nparams = sum(p.numel() for p in model.parameters())
    log(f"DeiT patch {args.patch} dim {args.dim} depth {args.depth} heads {args.heads} "
        f"mlp_ratio {args.mlp_ratio}: {nparams} parameters; train {len(train_y)} images")

    t0 = time.time()
    c0 = time.process_time()
    train_cpu = None
    if args.resume_from:
        model.load_state_dict(torch.load(args.resume_from, map_location="cpu"))
        train_time = None
    else:
        train(model, args, train_x, train_y, log)
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
        "model": "deit_fmnist",
        "onnx": os.path.relpath(args.onnx, REPO) if args.onnx.startswith(REPO) else args.onnx,
        "onnx_sha256": fmnist.file_sha256(args.onnx),
        "opset": args.opset,
        "framework": f"torch {torch.__version__}",
        "split": "t10k",
        "samples": m["samples"],
        "top1": round(m["top1"], 2),
        "top5": round(m["top5"], 2),
        "correct": m["correct"],
        "correct_top5": m["correct_top5"],
        "params": nparams,
        "hyperparameters": {"img_size": 28, "in_chans": 1, "patch": args.patch, "dim": args.dim,
                            "depth": args.depth, "heads": args.heads, "mlp_ratio": args.mlp_ratio,
                            "num_classes": 10, "layernorm_eps": 1e-6, "gelu": "exact (erf)"},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "AdamW",
                     "lr": args.lr, "min_lr": args.min_lr, "schedule": "linear warmup + cosine",
                     "warmup_epochs": args.warmup_epochs, "weight_decay": args.weight_decay,
                     "label_smoothing": args.label_smoothing, "clip_grad": args.clip_grad,
                     "augment": augment_desc(args),
                     "seed": args.seed, "threads": args.threads, "train_images": int(len(train_y))},
        "train_time_s": round(train_time, 1) if train_time is not None else old.get("train_time_s"),
        "train_cpu_s": round(train_cpu, 1) if train_cpu is not None else old.get("train_cpu_s"),
        "command": old.get("command") if args.resume_from else
        "tools/train_deit_fmnist.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    write_json(args.metrics, metrics)
    log(f"metrics: {args.metrics}")


if __name__ == "__main__":
    main()
