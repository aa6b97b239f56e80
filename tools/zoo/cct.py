"""Zoo family `cct`: Compact Convolutional Transformer (conv tokenizer, no class token, sequence pooling)."""
import torch
import torch.nn as nn

FAMILY = "cct"
HYPERPARAMETERS = {"tokenizer": "2 x [Conv2d 3x3 s1 p1 (no bias) -> ReLU -> MaxPool2d(3, 2, 1)]",
                   "channels": [1, 32, 64], "tokens": 49, "dim": 64, "depth": 2, "heads": 4, "mlp_ratio": 2.0,
                   "layernorm_eps": 1e-5, "gelu": "exact (erf)", "pooling": "sequence pooling"}
DESCRIPTION = (
    "Compact Convolutional Transformer (CCT): convolutional tokenizer of two [Conv2d 3x3 stride 1 pad 1 "
    "(bias-free) -> ReLU -> MaxPool2d(3, stride 2, pad 1)] stages (1->32->64 channels, 28->14->7), flattened "
    "to 49 tokens of 64 with no class token; learned position embedding; 2 pre-LN blocks (bias-free fused qkv "
    "Linear reshaped/permuted into 4 heads, softmax attention, Linear out; MLP 64->128 GELU ->64); final "
    "LayerNorm; attention sequence pooling w = softmax(Linear(64,1)(x), dim=1) over tokens, "
    "x = (w^T @ x).squeeze(-2); Linear head.")
TRAIN = {"epochs": 3}


class ConvTokenizer(nn.Module):
    def __init__(self, chans=(1, 32, 64)):
        super().__init__()
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=False), nn.ReLU(inplace=True),
                       nn.MaxPool2d(3, stride=2, padding=1)]
        self.conv_layers = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        return self.conv_layers(x).flatten(2).transpose(-2, -1)   # [N, 49, C]


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.pre_norm = nn.LayerNorm(dim)
        self.self_attn = SelfAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, hidden)
        self.activation = nn.GELU()
        self.linear2 = nn.Linear(hidden, dim)

    def forward(self, src):
        src = src + self.self_attn(self.pre_norm(src))
        return src + self.linear2(self.activation(self.linear1(self.norm1(src))))


class CCT(nn.Module):
    def __init__(self, chans=(1, 32, 64), depth=2, heads=4, mlp_ratio=2.0, num_classes=10):
        super().__init__()
        dim = chans[-1]
        self.tokenizer = ConvTokenizer(chans)
        self.positional_emb = nn.Parameter(torch.zeros(1, 49, dim))
        nn.init.trunc_normal_(self.positional_emb, std=0.2)
        self.blocks = nn.ModuleList([EncoderLayer(dim, heads, int(dim * mlp_ratio)) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.attention_pool = nn.Linear(dim, 1)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.tokenizer(x) + self.positional_emb
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        w = torch.softmax(self.attention_pool(x), dim=1)           # [N, 49, 1]
        x = (w.transpose(-1, -2) @ x).squeeze(-2)                  # [N, 64]
        return self.fc(x)


def build():
    h = HYPERPARAMETERS
    return CCT(tuple(h["channels"]), h["depth"], h["heads"], h["mlp_ratio"])
