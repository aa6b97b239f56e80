"""Zoo family `deit_distill`: DeiT with a distillation token (two heads averaged at inference)."""
import torch
import torch.nn as nn

FAMILY = "deit_distill"
HYPERPARAMETERS = {"patch": 7, "dim": 64, "depth": 3, "heads": 4, "mlp_ratio": 2.0, "tokens": 18,
                   "layernorm_eps": 1e-6, "gelu": "exact (erf)",
                   "distillation": "dist head trained on the ground-truth labels (no teacher)"}
DESCRIPTION = (
    "DeiT with a distillation token: patches are cut with x.unfold(2,7,7).unfold(3,7,7) (-> [N,1,4,4,7,7]), "
    "permuted and reshaped to [N,16,49] and embedded by nn.Linear(49,64) (no Conv). A class token and a "
    "distillation token are concatenated in front (18 tokens); positions come from nn.Embedding(18,64) looked "
    "up with torch.arange(18). 3 pre-LN blocks whose attention keeps a ModuleList of per-head modules, each "
    "with its own nn.Linear q, k and v (64->16); the 4 head outputs are concatenated and projected. MLP "
    "64->128 GELU ->64. After the final LayerNorm, head_cls(x[:,0]) and head_dist(x[:,1]) are averaged: "
    "(a + b) / 2. Both heads were trained with the plain labels (loss = mean of the two cross-entropies).")
TRAIN = {"epochs": 5}


class OneHead(nn.Module):
    def __init__(self, dim, head_dim):
        super().__init__()
        self.q = nn.Linear(dim, head_dim)
        self.k = nn.Linear(dim, head_dim)
        self.v = nn.Linear(dim, head_dim)
        self.scale = head_dim ** -0.5

    def forward(self, x):
        a = torch.softmax((self.q(x) @ self.k(x).transpose(1, 2)) * self.scale, dim=-1)
        return a @ self.v(x)


class PerHeadAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = nn.ModuleList([OneHead(dim, dim // heads) for _ in range(heads)])
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class DeiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = PerHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class DistilledDeiT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=3, heads=4, mlp_ratio=2.0, eps=1e-6, num_classes=10):
        super().__init__()
        self.patch = patch
        self.num_patches = (28 // patch) ** 2
        self.num_tokens = self.num_patches + 2
        self.patch_embed = nn.Linear(patch * patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Embedding(self.num_tokens, dim)
        nn.init.trunc_normal_(self.pos_embed.weight, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.dist_token, std=0.02)
        self.blocks = nn.Sequential(*[DeiTBlock(dim, heads, mlp_ratio, eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head_cls = nn.Linear(dim, num_classes)
        self.head_dist = nn.Linear(dim, num_classes)

    def features(self, x):
        p = self.patch
        n = x.shape[0]
        t = x.unfold(2, p, p).unfold(3, p, p)                       # [N, C, 4, 4, p, p]
        t = t.permute(0, 2, 3, 1, 4, 5).reshape(n, self.num_patches, -1)
        t = self.patch_embed(t)
        t = torch.cat([self.cls_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), t], dim=1)
        t = t + self.pos_embed(torch.arange(self.num_tokens, device=x.device))
        return self.norm(self.blocks(t))

    def train_outputs(self, x):
        t = self.features(x)
        return [self.head_cls(t[:, 0]), self.head_dist(t[:, 1])]

    def forward(self, x):
        t = self.features(x)
        return (self.head_cls(t[:, 0]) + self.head_dist(t[:, 1])) / 2


def build():
    h = HYPERPARAMETERS
    return DistilledDeiT(h["patch"], h["dim"], h["depth"], h["heads"], h["mlp_ratio"], h["layernorm_eps"])
