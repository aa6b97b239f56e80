"""Zoo family `tv_vit`: torchvision.models.VisionTransformer, 1-channel patch embedding."""
import torch.nn as nn
from torchvision.models.vision_transformer import VisionTransformer

FAMILY = "tv_vit"
HYPERPARAMETERS = {"class": "torchvision.models.VisionTransformer", "image_size": 28, "patch_size": 7,
                   "num_layers": 3, "num_heads": 4, "hidden_dim": 64, "mlp_dim": 128, "num_classes": 10,
                   "in_chans": 1, "layernorm_eps": 1e-6, "gelu": "exact (erf)"}
DESCRIPTION = (
    "torchvision.models.VisionTransformer(image_size=28, patch_size=7, num_layers=3, num_heads=4, "
    "hidden_dim=64, mlp_dim=128, num_classes=10) with conv_proj replaced by a 1-input-channel Conv2d 7x7 "
    "stride 7: class token, learned position embedding (17 tokens), torchvision EncoderBlocks (pre-LN eps "
    "1e-6, nn.MultiheadAttention batch_first, MLPBlock with GELU), final LayerNorm, heads.head Linear on the "
    "class token.")
TRAIN = {"epochs": 5}


def build():
    h = HYPERPARAMETERS
    m = VisionTransformer(image_size=h["image_size"], patch_size=h["patch_size"], num_layers=h["num_layers"],
                          num_heads=h["num_heads"], hidden_dim=h["hidden_dim"], mlp_dim=h["mlp_dim"],
                          num_classes=h["num_classes"])
    old = m.conv_proj
    m.conv_proj = nn.Conv2d(1, old.out_channels, kernel_size=old.kernel_size, stride=old.stride)
    fan_in = m.conv_proj.in_channels * m.conv_proj.kernel_size[0] * m.conv_proj.kernel_size[1]
    nn.init.trunc_normal_(m.conv_proj.weight, std=(1.0 / fan_in) ** 0.5)   # torchvision's own init rule
    nn.init.zeros_(m.conv_proj.bias)
    return m
