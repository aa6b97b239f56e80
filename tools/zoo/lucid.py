"""Zoo family `lucid`: a ViT in the style popularized by lucidrains' vit-pytorch (written from its
description): reshape/permute patchify, LN->Linear->LN patch embedding, bias-free fused qkv split with chunk."""
import torch
import torch.nn as nn

FAMILY = "lucid"
HYPERPARAMETERS = {"patch": 4, "dim": 64, "depth": 2, "heads": 4, "dim_head": 16, "mlp_dim": 128,
                   "pool": "cls", "qkv_bias": False, "gelu": "exact (erf)"}
DESCRIPTION = (
    "lucidrains-style ViT: the image is patchified with view+permute+reshape (b c (h p1) (w p2) -> "
    "b (h w) (p1 p2 c), patch 4, 49 patches of 16 values), embedded by LayerNorm(16) -> Linear(16,64) -> "
    "LayerNorm(64); a randn-initialized class token is repeated over the batch (Tile) and concatenated, a "
    "randn position embedding sliced to n+1 is added. 2 blocks of x = attn(x) + x, x = ff(x) + x where attn "
    "starts with its own LayerNorm, uses one bias-free Linear(64, 3*64) split by chunk(3, dim=-1), heads by "
    "reshape/transpose (4 x 16), softmax(q k^T * 16^-0.5) v, merge heads, Linear out; ff = LayerNorm, Linear "
    "64->128, GELU, Linear 128->64. Final LayerNorm, class-token pooling, Linear head.")
TRAIN = {"epochs": 4}


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.attend = nn.Softmax(dim=-1)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x):
        x = self.norm(x)
        b, n, _ = x.shape
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = [t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in qkv]   # b h n d
        dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        out = torch.matmul(self.attend(dots), v)
        out = out.transpose(1, 2).reshape(b, n, -1)                                 # b n (h d)
        return self.to_out(out)


class Transformer(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, mlp_dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList([nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)])
                                     for _ in range(depth)])

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class LucidViT(nn.Module):
    def __init__(self, patch=4, dim=64, depth=2, heads=4, dim_head=16, mlp_dim=128, channels=1, num_classes=10):
        super().__init__()
        self.p = patch
        num_patches = (28 // patch) ** 2
        patch_dim = channels * patch * patch
        self.to_patch_embedding = nn.Sequential(nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim)
        self.mlp_head = nn.Linear(dim, num_classes)

    def patchify(self, img):
        b, c, hh, ww = img.shape
        p = self.p
        x = img.view(b, c, hh // p, p, ww // p, p)       # b c h p1 w p2
        x = x.permute(0, 2, 4, 3, 5, 1)                   # b h w p1 p2 c
        return x.reshape(b, (hh // p) * (ww // p), p * p * c)

    def forward(self, img):
        x = self.to_patch_embedding(self.patchify(img))
        b, n, _ = x.shape
        cls_tokens = self.cls_token.repeat(b, 1, 1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embedding[:, :(n + 1)]
        x = self.transformer(x)
        return self.mlp_head(x[:, 0])


def build():
    h = HYPERPARAMETERS
    return LucidViT(h["patch"], h["dim"], h["depth"], h["heads"], h["dim_head"], h["mlp_dim"])
