"""Zoo family `tfenc_post_bf`: a ViT built from torch.nn.TransformerEncoder / TransformerEncoderLayer with
their defaults (post-LN, ReLU feed-forward, dropout 0.1), batch_first=True."""
import torch
import torch.nn as nn

FAMILY = "tfenc_post_bf"
HYPERPARAMETERS = {"patch": 7, "dim": 64, "depth": 3, "heads": 4, "dim_feedforward": 128,
                   "norm_first": False, "activation": "relu", "dropout": 0.1, "batch_first": True}
DESCRIPTION = (
    "ViT on torch.nn.TransformerEncoder (3 x nn.TransformerEncoderLayer, d_model 64, 4 heads, dim_feedforward "
    "128, library defaults: post-LN (LayerNorm after each residual add, eps 1e-5), ReLU FFN, dropout 0.1 in "
    "training), batch_first=True so the layers see [N,S,E]. Patch embedding is a Conv2d 7x7 stride 7 (16 "
    "patches), a learned class token is concatenated in front and a learned position embedding (17 x 64) is "
    "added; the linear head reads the class token. No final LayerNorm (post-LN output is already normalized). "
    "Attention inside nn.MultiheadAttention uses one packed in_proj weight; the ONNX graph traces torch's "
    "slow (non-fused) path.")
TRAIN = {"epochs": 5}


class PostLNEncoderViT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=3, heads=4, ffn=128, num_classes=10):
        super().__init__()
        grid = 28 // patch
        self.to_patches = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model=dim, nhead=heads, dim_feedforward=ffn, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.to_patches(x).flatten(2).transpose(1, 2)          # [N, 16, E]
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.encoder(x + self.pos_embed)
        return self.classifier(x[:, 0])


def build():
    h = HYPERPARAMETERS
    return PostLNEncoderViT(h["patch"], h["dim"], h["depth"], h["heads"], h["dim_feedforward"])
