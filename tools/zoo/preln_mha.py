"""Zoo family `preln_mha`: hand-written pre-LN ViT blocks around torch.nn.MultiheadAttention (batch_first)."""
import torch
import torch.nn as nn

FAMILY = "preln_mha"
HYPERPARAMETERS = {"patch": 7, "dim": 64, "depth": 4, "heads": 4, "mlp_hidden": 128, "layernorm_eps": 1e-6,
                   "gelu": "exact (erf)"}
DESCRIPTION = (
    "Pre-LN ViT written as explicit blocks: x = x + MHA(LN(x)); x = x + MLP(LN(x)), where MHA is "
    "nn.MultiheadAttention(64, 4 heads, batch_first=True) called as attn(h, h, h, need_weights=False) and the "
    "MLP is Linear 64->128, exact GELU, Linear 128->64; 4 blocks, LayerNorm eps 1e-6. Conv2d 7x7/7 patch "
    "embedding (16 patches), class token, learned position embedding, final LayerNorm, linear head on the "
    "class token.")
TRAIN = {"epochs": 5}


class MHABlock(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.ln_attn = nn.LayerNorm(dim, eps=eps)
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_mlp = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        h = self.ln_attn(x)
        x = x + self.mha(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_mlp(x))


class PreLNViT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=4, heads=4, hidden=128, eps=1e-6, num_classes=10):
        super().__init__()
        n = (28 // patch) ** 2
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList([MHABlock(dim, heads, hidden, eps) for _ in range(depth)])
        self.ln_final = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_final(x)[:, 0])


def build():
    h = HYPERPARAMETERS
    return PreLNViT(h["patch"], h["dim"], h["depth"], h["heads"], h["mlp_hidden"], h["layernorm_eps"])
