#!/usr/bin/python3
"""Golden outputs of torchvision's PIL preprocessing, for tests/unit/data_preprocess_test.cc.

The C++ data loader (src/data/) must reproduce, for a qvit.config/1 file,

    Image.open(path).convert("RGB" or "L")
    -> transforms.Resize(n, interpolation) -> transforms.CenterCrop(c)
    -> transforms.ToTensor() -> transforms.Normalize(mean, std)

This script writes into tests/golden/preprocess/:
  images/        small synthetic images (gradients + noise + edges; fixed seed) in the formats the
                 loader must handle: RGB PNG, RGB and grayscale JPEG, grayscale PNG, RGBA PNG,
                 palette PNG, 16-bit RGB and 16-bit grayscale PNG;
  configs/       one qvit.config/1 file per preprocessing variant (bilinear/bicubic/nearest,
                 downscale/upscale, crops incl. padding and half-pixel offsets, 1 and 3 channels,
                 NHWC);
  outputs/       <config>__<image>.npy: torchvision's float32 output ([C,H,W], or [H,W,C] for NHWC);
  manifest.json  the list of cases;
and, when /work/shared/data/imagenet-samples exists, an ImageNet-style digest (resize 256,
center crop 224): imagenet_digest.json with every image's output mean, and imagenet_samples/
<image>.npy with 1000 output values at indices (k * 7919 + 17) % numel for a few images.

Debian's torch/torchvision/PIL only work under /usr/bin/python3. Run: tools/make_preprocess_golden.py
"""
import json
import os
import struct
import zlib

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "golden", "preprocess")
IMAGENET_SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared", "data", "imagenet-samples")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
FMNIST_MEAN = [0.2860]
FMNIST_STD = [0.3530]

# Sparse sample of an ImageNet output: index k -> (k * STRIDE + OFFSET) % numel. STRIDE is a prime
# not dividing 3*224*224, so the 1000 indices are distinct. The C++ test uses the same formula.
DIGEST_SAMPLES = 1000
DIGEST_STRIDE = 7919
DIGEST_OFFSET = 17


def write_png(path, array, bit_depth):
    """Minimal PNG writer for 16-bit images (PIL cannot write 16-bit RGB)."""
    h, w = array.shape[:2]
    color_type = 0 if array.ndim == 2 else {3: 2, 4: 6}[array.shape[2]]
    sample = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + array[y].astype(sample).tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) +
                chunk(b"IEND", b""))


def synthetic(h, w, channels, rng, maximum=255):
    """Smooth gradients, a sharp-edged block (exercises bicubic overshoot and clamping) and noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        x / max(w - 1, 1),
        y / max(h - 1, 1),
        0.5 + 0.5 * np.sin(x * 0.7 + y * 0.3),
        (x + y) / (w + h),
    ]
    out = np.empty((h, w, channels))
    for c in range(channels):
        out[..., c] = planes[c % len(planes)]
    out[h // 4: h // 2, w // 3: w // 2, :] = 1.0  # hard edges
    out[h // 2: 3 * h // 4, w // 2: 3 * w // 4, :] = 0.0
    out = out * 0.85 * maximum + rng.uniform(0, 0.15 * maximum, size=out.shape)
    out = np.clip(np.rint(out), 0, maximum)
    return out if channels > 1 else out[..., 0]


def make_images(images_dir):
    rng = np.random.default_rng(20240611)
    os.makedirs(images_dir, exist_ok=True)
    files = {}

    def save_pil(name, array, mode, **kw):
        Image.fromarray(array.astype(np.uint8), mode).save(os.path.join(images_dir, name), **kw)
        files[name] = name

    save_pil("rgb_37x53.png", synthetic(53, 37, 3, rng), "RGB")
    save_pil("rgb_300x200.jpg", synthetic(200, 300, 3, rng), "RGB", quality=90)
    save_pil("gray_64x48.png", synthetic(48, 64, 1, rng), "L")
    save_pil("gray_50x70.jpg", synthetic(70, 50, 1, rng), "L", quality=85)
    save_pil("rgba_41x29.png", synthetic(29, 41, 4, rng), "RGBA")
    palette = Image.fromarray(synthetic(27, 33, 3, rng).astype(np.uint8), "RGB").quantize(colors=16)
    palette.save(os.path.join(images_dir, "palette_33x27.png"))
    files["palette_33x27.png"] = "palette_33x27.png"
    write_png(os.path.join(images_dir, "rgb16_23x19.png"), synthetic(19, 23, 3, rng, 65535), 16)
    files["rgb16_23x19.png"] = "rgb16_23x19.png"
    # Mostly below 256 so that PIL's mode "I" clamp leaves a visible image.
    write_png(os.path.join(images_dir, "gray16_21x17.png"), synthetic(17, 21, 1, rng, 400), 16)
    files["gray16_21x17.png"] = "gray16_21x17.png"
    return sorted(files)


def config(name, channels, size, resize, crop, interpolation, mean, std, layout="NCHW", num_classes=10):
    return {
        "format": "qvit.config/1",
        "name": name,
        "model": "none.onnx",
        "input": {"channels": channels, "height": size[0], "width": size[1], "layout": layout},
        "resize": resize,
        "center_crop": crop,
        "interpolation": interpolation,
        "pixel_scale": 255.0,
        "mean": mean,
        "std": std,
        "num_classes": num_classes,
    }


ALL = None  # every test image
CONFIGS = [
    # (config, images)
    (config("rgb_bilinear_down", 3, (24, 24), 24, 24, "bilinear", IMAGENET_MEAN, IMAGENET_STD), ALL),
    (config("rgb_bicubic_down", 3, (18, 16), 20, [18, 16], "bicubic", IMAGENET_MEAN, IMAGENET_STD), ALL),
    (config("rgb_bilinear_up", 3, (48, 48), 56, 48, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
     ["rgb_37x53.png", "rgba_41x29.png", "gray16_21x17.png"]),
    (config("rgb_bicubic_up", 3, (48, 52), 60, [48, 52], "bicubic", IMAGENET_MEAN, IMAGENET_STD),
     ["rgb_37x53.png", "palette_33x27.png", "rgb16_23x19.png"]),
    (config("rgb_nearest", 3, (40, 40), 45, 40, "nearest", IMAGENET_MEAN, IMAGENET_STD),
     ["rgb_37x53.png", "rgb_300x200.jpg", "gray_64x48.png", "rgba_41x29.png"]),
    (config("gray_bilinear_fmnist", 1, (28, 28), 28, 28, "bilinear", FMNIST_MEAN, FMNIST_STD), ALL),
    (config("gray_bicubic_up", 1, (60, 64), 72, [60, 64], "bicubic", FMNIST_MEAN, FMNIST_STD),
     ["gray_50x70.jpg", "rgb_37x53.png", "gray16_21x17.png"]),
    (config("gray_nearest_down", 1, (12, 12), 12, 12, "nearest", FMNIST_MEAN, FMNIST_STD), ALL),
    # The crop is larger than the resized image on at least one side: zero padding.
    (config("rgb_crop_pad", 3, (24, 30), 20, [24, 30], "bilinear", IMAGENET_MEAN, IMAGENET_STD), ALL),
    # No resize; the odd margins exercise CenterCrop's round-half-to-even offsets.
    (config("rgb_crop_only_nhwc", 3, (16, 16), None, 16, "bilinear", IMAGENET_MEAN, IMAGENET_STD, "NHWC"), ALL),
    (config("rgb_odd_crop", 3, (31, 30), 33, [31, 30], "bicubic", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
     ["rgb_37x53.png", "rgb_300x200.jpg", "gray_64x48.png", "rgba_41x29.png"]),
]

INTERPOLATION = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                 "nearest": InterpolationMode.NEAREST}


def torchvision_pipeline(cfg):
    steps = []
    if cfg["resize"] is not None:
        steps.append(transforms.Resize(cfg["resize"], interpolation=INTERPOLATION[cfg["interpolation"]]))
    if cfg["center_crop"] is not None:
        steps.append(transforms.CenterCrop(cfg["center_crop"]))
    steps += [transforms.ToTensor(), transforms.Normalize(cfg["mean"], cfg["std"])]
    return transforms.Compose(steps)


def preprocess(path, cfg):
    with Image.open(path) as im:
        img = im.convert("RGB" if cfg["input"]["channels"] == 3 else "L")
    out = torchvision_pipeline(cfg)(img)
    assert out.dtype == torch.float32
    if cfg["input"]["layout"] == "NHWC":
        out = out.permute(1, 2, 0).contiguous()
    return out.numpy()


def make_parity_cases(images):
    for sub in ("configs", "outputs"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    cases = []
    for cfg, chosen in CONFIGS:
        name = cfg["name"]
        config_rel = f"configs/{name}.json"
        with open(os.path.join(OUT, config_rel), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        for image in (images if chosen is ALL else chosen):
            out = preprocess(os.path.join(OUT, "images", image), cfg)
            output_rel = f"outputs/{name}__{os.path.splitext(image)[0]}.npy"
            np.save(os.path.join(OUT, output_rel), out)
            cases.append({"config": config_rel, "image": f"images/{image}", "output": output_rel})
    return cases


def make_imagenet_digest():
    if not os.path.isdir(IMAGENET_SAMPLES):
        print(f"{IMAGENET_SAMPLES} absent: no ImageNet digest written")
        return
    cfg = config("imagenet_224", 3, (224, 224), 256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD,
                 num_classes=1000)
    with open(os.path.join(OUT, "configs", "imagenet_224.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    names = sorted(n for n in os.listdir(IMAGENET_SAMPLES) if n.lower().endswith((".jpeg", ".jpg", ".png")))
    # A few images get a sparse sample: the first two, two grayscale ones, the largest, the smallest.
    sizes, modes = {}, {}
    for n in names:
        with Image.open(os.path.join(IMAGENET_SAMPLES, n)) as im:
            sizes[n] = im.size[0] * im.size[1]
            modes[n] = im.mode
    gray = [n for n in names if modes[n] == "L"]
    sampled = sorted(set(names[:2] + gray[:2] + [max(names, key=sizes.get), min(names, key=sizes.get)]))

    os.makedirs(os.path.join(OUT, "imagenet_samples"), exist_ok=True)
    means = {}
    for n in names:
        out = preprocess(os.path.join(IMAGENET_SAMPLES, n), cfg)
        means[n] = float(np.mean(out, dtype=np.float64))
        if n in sampled:
            flat = out.reshape(-1)
            idx = (np.arange(DIGEST_SAMPLES, dtype=np.int64) * DIGEST_STRIDE + DIGEST_OFFSET) % flat.size
            np.save(os.path.join(OUT, "imagenet_samples", os.path.splitext(n)[0] + ".npy"), flat[idx])
    digest = {
        "config": "configs/imagenet_224.json",
        "images": IMAGENET_SAMPLES,
        "sample_rule": {"count": DIGEST_SAMPLES, "stride": DIGEST_STRIDE, "offset": DIGEST_OFFSET},
        "mean": means,
        "sampled": {n: "imagenet_samples/" + os.path.splitext(n)[0] + ".npy" for n in sampled},
    }
    with open(os.path.join(OUT, "imagenet_digest.json"), "w") as f:
        json.dump(digest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    images = make_images(os.path.join(OUT, "images"))
    cases = make_parity_cases(images)
    manifest = {
        "generator": "tools/make_preprocess_golden.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "PIL": Image.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    make_imagenet_digest()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"{len(cases)} cases written to {OUT} ({total / 1024:.0f} KiB in total)")


if __name__ == "__main__":
    main()
