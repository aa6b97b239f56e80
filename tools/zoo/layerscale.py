"""Zoo family `layerscale`: CaiT / DeiT-III style LayerScale blocks and in-graph input normalization."""
import torch
import torch.nn as nn

FAMILY = "layerscale"
HYPERPARAMETERS = {"patch": 7, "dim": 64, "depth": 3, "heads": 4, "mlp_hidden": 128, "layer_scale_init": 0.1,
                   "gelu": "exact (erf)"}
DESCRIPTION = (
    "Pre-LN ViT with LayerScale (Touvron et al., CaiT): x = x + diag(g1)·Attn(LN(x)); x = x + diag(g2)·MLP(LN(x)), "
    "g1, g2 learned per channel, initialized to +-0.1 alternating so that some stay negative. The normalized image "
    "is shifted and scaled once more in the graph, (x - c) / s with constant c, s (Sub, Div), and the patch "
    "tokens get a learned per-channel offset subtracted (x - t, t [dim]); Conv2d 7x7/7 patch embedding, class "
    "token, learned positions, 3 blocks of hand-written attention (fused qkv Linear, reshape/permute heads), "
    "final LayerNorm, linear head on the class token.")
TRAIN = {"epochs": 4}


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(x)


class LayerScaleBlock(nn.Module):
    def __init__(self, dim, heads, hidden, init):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(dim)])
        self.gamma1 = nn.Parameter(init * signs)
        self.gamma2 = nn.Parameter(init * signs)

    def forward(self, x):
        x = x + self.gamma1 * self.attn(self.norm1(x))
        return x + self.gamma2 * self.mlp(self.norm2(x))


class LayerScaleViT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=3, heads=4, hidden=128, init=0.1, num_classes=10):
        super().__init__()
        n = (28 // patch) ** 2
        self.register_buffer("shift", torch.full((1, 1, 1, 1), 0.25))
        self.register_buffer("scale", torch.full((1, 1, 1, 1), 1.5))
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.token_offset = nn.Parameter(0.05 * torch.randn(dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n + 1, dim))
        self.blocks = nn.ModuleList([LayerScaleBlock(dim, heads, hidden, init) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = (x - self.shift) / self.scale
        x = self.embed(x).flatten(2).transpose(1, 2) - self.token_offset
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def build():
    h = HYPERPARAMETERS
    return LayerScaleViT(h["patch"], h["dim"], h["depth"], h["heads"], h["mlp_hidden"], h["layer_scale_init"])
