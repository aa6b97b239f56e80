"""Zoo family `tfenc_post_sf`: like tfenc_post_bf but with batch_first=False, i.e. the encoder works on
sequence-first [S,N,E] tensors (the original torch.nn.Transformer convention)."""
import torch
import torch.nn as nn

FAMILY = "tfenc_post_sf"
HYPERPARAMETERS = {"patch": 4, "dim": 64, "depth": 2, "heads": 4, "dim_feedforward": 128,
                   "norm_first": False, "activation": "relu", "dropout": 0.1, "batch_first": False}
DESCRIPTION = (
    "ViT on torch.nn.TransformerEncoder with batch_first=False (2 x nn.TransformerEncoderLayer, d_model 64, 4 "
    "heads of 16, dim_feedforward 128, defaults: post-LN, ReLU FFN, dropout 0.1 in training). Conv2d 4x4 "
    "stride 4 patch embedding (7x7 = 49 patches); the [N,E,7,7] map is flattened and permuted to "
    "sequence-first [S,N,E]; the class token [1,1,E] is expanded along the batch (dim 1) and concatenated at "
    "sequence position 0, a learned [S,1,E] position embedding is broadcast-added; the head reads x[0].")
TRAIN = {"epochs": 3}


class SeqFirstEncoderViT(nn.Module):
    def __init__(self, patch=4, dim=64, depth=2, heads=4, ffn=128, num_classes=10):
        super().__init__()
        grid = 28 // patch
        self.stem = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(grid * grid + 1, 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, ffn, batch_first=False)
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, img):
        t = self.stem(img).flatten(2).permute(2, 0, 1)               # [S, N, E]
        t = torch.cat([self.cls.expand(-1, t.shape[1], -1), t], dim=0)
        t = self.transformer(t + self.pos)
        return self.fc(t[0])


def build():
    h = HYPERPARAMETERS
    return SeqFirstEncoderViT(h["patch"], h["dim"], h["depth"], h["heads"], h["dim_feedforward"])
