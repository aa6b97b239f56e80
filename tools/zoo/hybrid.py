"""Zoo family `hybrid`: conv stem (Conv-BN-ReLU x2, stride 2 each) + 1x1 projection + pre-LN transformer."""
import torch
import torch.nn as nn

FAMILY = "hybrid"
HYPERPARAMETERS = {"stem": "Conv2d 3x3 s2 (1->16) BN ReLU, Conv2d 3x3 s2 (16->32) BN ReLU, Conv2d 1x1 (32->64)",
                   "tokens": 50, "dim": 64, "depth": 2, "heads": 4, "mlp_hidden": 128, "layernorm_eps": 1e-6,
                   "gelu": "exact (erf)"}
DESCRIPTION = (
    "Hybrid CNN/ViT: a conv stem Conv2d 3x3 stride 2 (1->16) - BatchNorm2d - ReLU - Conv2d 3x3 stride 2 "
    "(16->32) - BatchNorm2d - ReLU (28->14->7; BatchNorm is folded into the convs by the eval-mode export), "
    "then a 1x1 Conv2d to 64 channels; the 7x7 map becomes 49 tokens, a class token is prepended and a "
    "learned position embedding added. 2 pre-LN blocks whose attention has a separate query Linear and a "
    "fused key/value Linear (64->128, split by slicing), 4 heads; MLP 64->128 GELU ->64; final LayerNorm and "
    "a linear head on the class token.")
TRAIN = {"epochs": 4}


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class QKVAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.h = heads
        self.d = dim // heads
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q = self.query(x).view(b, n, self.h, self.d).transpose(1, 2)
        kv = self.key_value(x)
        k = kv[..., :c].reshape(b, n, self.h, self.d).transpose(1, 2)
        v = kv[..., c:].reshape(b, n, self.h, self.d).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(2, 3) / (self.d ** 0.5), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.attn = QKVAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class HybridViT(nn.Module):
    def __init__(self, dim=64, depth=2, heads=4, hidden=128, eps=1e-6, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, 16), conv_bn_relu(16, 32))
        self.proj = nn.Conv2d(32, dim, kernel_size=1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 50, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden, eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.proj(self.stem(x)).flatten(2).transpose(1, 2)     # [N, 49, dim]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build():
    h = HYPERPARAMETERS
    return HybridViT(h["dim"], h["depth"], h["heads"], h["mlp_hidden"], h["layernorm_eps"])
