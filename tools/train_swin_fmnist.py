#!/usr/bin/python3
"""Train a small Swin Transformer (torchvision's SwinTransformer class) on Fashion-MNIST and export it to ONNX.

The model is torchvision.models.swin_transformer.SwinTransformer with its patch-embedding Conv2d
(features[0][0]) replaced by a 1-input-channel Conv2d with the same kernel/stride, so the input is
[N,1,28,28], normalized as (x/255 - 0.2860)/0.3530.

Default configuration: patch 4, so the first stage works on a 7x7 grid; window 4, so torchvision pads the
grid to 8x8 inside the attention (F.pad, right/bottom), giving 2x2 windows, and the second block of that
stage uses shift 2 (cyclic roll + attention mask). Patch merging pads 7x7 to 8x8 and gives a 4x4 grid for the
second stage, a single window, where torchvision disables the shift. The script asserts that a shifted block
exists and counts the torch.roll calls of one forward pass.
(patch 2 / window 7 -- a 14x14 grid with 2x2 windows and no padding -- also works, --patch 2 --window 7,
but was about 3x slower per image on this CPU because of the 196 tokens of the first stage.)

Outputs:
  models/swin_fmnist.onnx          (opset 17 by default; input 'input', output 'logits', dynamic batch)
  models/swin_fmnist.metrics.json  (float top-1/top-5 on the 10k test split measured in PyTorch, time, command)
  /tmp/qvit_ckpt/swin_fmnist.pt    (state_dict, outside the repo)
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
from torchvision.models import swin_transformer as tvswin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_training as training  # noqa: E402


def build_swin(patch=2, embed_dim=48, depths=(2, 2), heads=(2, 4), window=7, mlp_ratio=4.0,
               stochastic_depth=0.05, num_classes=10, in_chans=1):
    model = tvswin.SwinTransformer(patch_size=[patch, patch], embed_dim=embed_dim, depths=list(depths),
                                   num_heads=list(heads), window_size=[window, window], mlp_ratio=mlp_ratio,
                                   stochastic_depth_prob=stochastic_depth, num_classes=num_classes)
    old = model.features[0][0]
    if in_chans != old.in_channels:
        conv = nn.Conv2d(in_chans, old.out_channels, kernel_size=old.kernel_size, stride=old.stride,
                         padding=old.padding, bias=old.bias is not None)
        model.features[0][0] = conv
    return model


def shift_report(model, img=28):
    """Return a list of (block name, grid HxW, window, effective shift) for every Swin block, using
    torchvision's own rule (shift is disabled where the window covers the whole padded grid)."""
    out = []
    h = w = img // model.features[0][0].stride[0]
    for name, mod in model.named_modules():
        if isinstance(mod, tvswin.PatchMerging):
            h, w = (h + 1) // 2, (w + 1) // 2
        if isinstance(mod, tvswin.ShiftedWindowAttention):
            ws = mod.window_size
            ph = h + (ws[0] - h % ws[0]) % ws[0]
            pw = w + (ws[1] - w % ws[1]) % ws[1]
            eff = [0 if ws[0] >= ph else mod.shift_size[0], 0 if ws[1] >= pw else mod.shift_size[1]]
            out.append((name, (h, w), tuple(ws), tuple(eff)))
    return out


def check_shift_active(model, img=28):
    """Verify with a forward hook on torch.roll that the shifted-window path really runs."""
    calls = []
    real_roll = torch.roll

    def spy(x, shifts, dims=None):
        calls.append(tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,))
        return real_roll(x, shifts, dims)

    tvswin.torch.roll = spy  # the module refers to torch.roll through the torch module object
    try:
        torch.roll = spy
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, img, img))
    finally:
        torch.roll = real_roll
        tvswin.torch.roll = real_roll
    return calls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training.add_training_args(ap, "swin_fmnist", epochs=8, opset=17)
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--embed-dim", type=int, default=48)
    ap.add_argument("--depths", default="2,2")
    ap.add_argument("--heads", default="2,4")
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=4.0)
    ap.add_argument("--stochastic-depth", type=float, default=0.0)
    args = ap.parse_args()
    train_x, train_y, test_x, test_y = training.prepare(args)

    depths = [int(v) for v in args.depths.split(",")]
    heads = [int(v) for v in args.heads.split(",")]

    model = build_swin(args.patch, args.embed_dim, depths, heads, args.window, args.mlp_ratio,
                       args.stochastic_depth)
    training.log(f"Swin patch {args.patch} embed_dim {args.embed_dim} depths {depths} heads {heads} window {args.window} "
                 f"mlp_ratio {args.mlp_ratio}: {training.parameter_count(model)} parameters; train {len(train_y)} images")
    report = shift_report(model)
    for name, grid, ws, eff in report:
        training.log(f"  {name}: grid {grid[0]}x{grid[1]} window {ws[0]}x{ws[1]} effective shift {eff}")
    rolls = check_shift_active(model)
    n_shifted = sum(1 for _, _, _, eff in report if sum(eff) > 0)
    training.log(f"  torch.roll calls in one forward: {rolls} (expected 2 per shifted block, {n_shifted} shifted blocks)")
    if n_shifted == 0 or len(rolls) != 2 * n_shifted:
        raise SystemExit("error: the shifted-window attention path is not exercised by this configuration")

    hyperparameters = {"class": "torchvision.models.swin_transformer.SwinTransformer",
                       "img_size": 28, "in_chans": 1, "patch": args.patch, "embed_dim": args.embed_dim,
                       "depths": depths, "heads": heads, "window": args.window, "mlp_ratio": args.mlp_ratio,
                       "stochastic_depth": args.stochastic_depth, "num_classes": 10,
                       "layernorm_eps": 1e-5, "gelu": "exact (erf)",
                       "blocks": [{"name": n, "grid": list(g), "window": list(w), "shift": list(e)}
                                  for n, g, w, e in report]}
    training.train_evaluate_export(args, "swin_fmnist", model, hyperparameters, train_x, train_y, test_x, test_y)


if __name__ == "__main__":
    main()
