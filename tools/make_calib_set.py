#!/usr/bin/python3
"""Write the bundled Fashion-MNIST calibration set in ImageFolder layout.

calib/fmnist/<NN>_<class_name_sanitized>/<train_index:05d>.png, N images per class drawn from the
Fashion-MNIST *train* split with a fixed seed, as 8-bit grayscale PNGs (raw pixels, no preprocessing).
Folder names start with the two-digit class index so that a name sort (torchvision ImageFolder) gives
class-index order. The chosen train indices are recorded in calib/fmnist/SOURCE.md.
"""
import argparse
import os
import re
import shutil
import sys
import zlib
import struct

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sanitize(name):
    s = name.lower().replace("/", "_").replace(" ", "_")
    return re.sub(r"[^a-z0-9_]", "", s)


def write_png_gray8(path, img):
    """Write an 8-bit grayscale PNG (PIL if available, else a minimal zlib encoder)."""
    try:
        from PIL import Image
        Image.fromarray(img, mode="L").save(path, format="PNG")
        return
    except ImportError:
        pass
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=fmnist.DEFAULT_ROOT)
    ap.add_argument("--out", default=os.path.join(REPO, "calib", "fmnist"))
    ap.add_argument("--per-class", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    images, labels = fmnist.load_split(args.data, "train")
    rng = np.random.RandomState(args.seed)
    chosen = {}
    for c in range(fmnist.NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        pick = np.sort(rng.choice(idx, size=args.per_class, replace=False))
        chosen[c] = pick

    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    dirs = []
    for c in range(fmnist.NUM_CLASSES):
        d = f"{c:02d}_{sanitize(fmnist.CLASS_NAMES[c])}"
        dirs.append(d)
        os.makedirs(os.path.join(args.out, d))
        for i in chosen[c]:
            assert labels[i] == c
            write_png_gray8(os.path.join(args.out, d, f"{int(i):05d}.png"), images[i])
    assert sorted(dirs) == dirs

    lines = [
        "# Fashion-MNIST calibration set",
        "",
        f"{args.per_class} images per class ({args.per_class * fmnist.NUM_CLASSES} in all) from the Fashion-MNIST "
        "**train** split (`train-images-idx3-ubyte.gz`, Debian package dataset-fashion-mnist), "
        "never from the t10k test split used for accuracy.",
        "",
        f"Regenerate with: `tools/make_calib_set.py --per-class {args.per_class} --seed {args.seed}` "
        f"(numpy `RandomState({args.seed})`, for each class in index order `choice(indices of that class, "
        f"{args.per_class}, replace=False)`, sorted).",
        "",
        "Layout: ImageFolder, `<NN>_<name>/<train index, 5 digits>.png`, raw 28x28 8-bit grayscale pixels "
        "(no normalization; the model config applies /255, mean 0.2860, std 0.3530). "
        "The folder's two-digit prefix is the class index, so a name sort gives class order.",
        "",
        "| class | folder | train indices |",
        "|---|---|---|",
    ]
    for c in range(fmnist.NUM_CLASSES):
        lines.append(f"| {c} {fmnist.CLASS_NAMES[c]} | `{dirs[c]}` | {' '.join(str(int(i)) for i in chosen[c])} |")
    with open(os.path.join(args.out, "SOURCE.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.per_class * fmnist.NUM_CLASSES} images in {len(dirs)} class folders under {args.out}")


if __name__ == "__main__":
    main()
