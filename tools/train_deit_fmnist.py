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
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_training as training  # noqa: E402


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training.add_training_args(ap, "deit_fmnist", epochs=10, opset=13)
    ap.add_argument("--patch", type=int, default=7)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=2.0)
    args = ap.parse_args()
    train_x, train_y, test_x, test_y = training.prepare(args)

    model = DeiT(patch_size=args.patch, embed_dim=args.dim, depth=args.depth, num_heads=args.heads,
                 mlp_ratio=args.mlp_ratio)
    training.log(f"DeiT patch {args.patch} dim {args.dim} depth {args.depth} heads {args.heads} "
                 f"mlp_ratio {args.mlp_ratio}: {training.parameter_count(model)} parameters; train {len(train_y)} images")
    hyperparameters = {"img_size": 28, "in_chans": 1, "patch": args.patch, "dim": args.dim,
                       "depth": args.depth, "heads": args.heads, "mlp_ratio": args.mlp_ratio,
                       "num_classes": 10, "layernorm_eps": 1e-6, "gelu": "exact (erf)"}
    training.train_evaluate_export(args, "deit_fmnist", model, hyperparameters, train_x, train_y, test_x, test_y)

if __name__ == "__main__":
    main()
