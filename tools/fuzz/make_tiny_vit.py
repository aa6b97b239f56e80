#!/usr/bin/python3
"""Writes the tiny ViT the fuzz targets and the corpus-replay test start from
(tests/golden/fuzz_models/tiny_vit.onnx): 28×28×1 input, 7×7 patches, width 8, two heads, one
pre-LN block with GELU, class token and LayerNorm → Linear head, 10 classes. Untrained (seeded
weights): the fuzzers need every op the real models have, in a graph that runs in about a
millisecond, not accuracy. Regenerate with tools/fuzz/make_seeds.sh."""
import os
import sys

import torch
import torch.nn as nn


class TinyViT(nn.Module):
    def __init__(self, dim=8, heads=2, patch=7, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, patch)
        tokens = (28 // patch) ** 2
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.ln2(x))
        return self.head(self.norm(x)[:, 0])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/fuzz_models/tiny_vit.onnx"
    torch.manual_seed(0)
    model = TinyViT().eval()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.onnx.export(model, torch.randn(1, 1, 28, 28), out, opset_version=17, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    print(out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
