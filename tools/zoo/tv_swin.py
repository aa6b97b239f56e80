"""Zoo family `tv_swin`: torchvision.models.swin_transformer.SwinTransformer, small, 1-channel patch embedding."""
import torch.nn as nn
from torchvision.models import swin_transformer as tvswin

FAMILY = "tv_swin"
HYPERPARAMETERS = {"class": "torchvision.models.swin_transformer.SwinTransformer", "patch_size": [4, 4],
                   "embed_dim": 32, "depths": [2, 2], "num_heads": [2, 4], "window_size": [4, 4],
                   "mlp_ratio": 4.0, "stochastic_depth_prob": 0.0, "num_classes": 10, "in_chans": 1,
                   "layernorm_eps": 1e-5, "gelu": "exact (erf)"}
DESCRIPTION = (
    "torchvision SwinTransformer(patch_size=[4,4], embed_dim=32, depths=[2,2], num_heads=[2,4], "
    "window_size=[4,4], mlp_ratio=4, stochastic_depth_prob=0) with features[0][0] replaced by a 1-channel "
    "Conv2d 4x4 stride 4. Stage 1 works on a 7x7 grid padded to 8x8 inside the attention (2x2 windows of "
    "4x4, relative position bias), its second block shifted by 2 (torch.roll + attention mask); PatchMerging "
    "(pad to 8x8, 2x2 concat, LayerNorm, Linear 128->64) gives a 4x4 grid where the window covers the grid "
    "and torchvision disables the shift. Final LayerNorm, permute, adaptive average pool, Linear head.")
TRAIN = {"epochs": 4}


def build():
    h = HYPERPARAMETERS
    m = tvswin.SwinTransformer(patch_size=h["patch_size"], embed_dim=h["embed_dim"], depths=h["depths"],
                               num_heads=h["num_heads"], window_size=h["window_size"], mlp_ratio=h["mlp_ratio"],
                               stochastic_depth_prob=h["stochastic_depth_prob"], num_classes=h["num_classes"])
    old = m.features[0][0]
    m.features[0][0] = nn.Conv2d(1, old.out_channels, kernel_size=old.kernel_size, stride=old.stride,
                                 padding=old.padding, bias=old.bias is not None)
    return m
