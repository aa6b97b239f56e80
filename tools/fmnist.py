#!/usr/bin/python3
"""Fashion-MNIST helpers shared by the qvit tools (no downloads, no torchvision datasets).

- read_idx(path): parse a (gzipped) IDX file into a numpy array.
- load_split(root, split): uint8 images [N,28,28] and int64 labels [N] for 'train' or 't10k'.
- normalize(): (x/255 - MEAN) / STD, as float32 NCHW [N,1,28,28].
- BatchLoader: in-memory batch iterator with optional light augmentation
  (random crop with zero padding, horizontal flip) done on whole batches in torch.
"""
import gzip
import hashlib
import os
import struct

import numpy as np

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
MEAN = 0.2860
STD = 0.3530
NUM_CLASSES = 10
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Read an IDX file (optionally .gz) and return a numpy array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(dims)) if ndim else 1
    off = 4 + 4 * ndim
    if len(data) - off != count * dtype.itemsize:
        raise ValueError(f"{path}: size mismatch (header says {dims})")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=off).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def split_paths(root, split):
    if split not in ("train", "t10k"):
        raise ValueError(f"unknown split {split!r} (expected 'train' or 't10k')")
    return (os.path.join(root, f"{split}-images-idx3-ubyte.gz"),
            os.path.join(root, f"{split}-labels-idx1-ubyte.gz"))


def load_split(root=DEFAULT_ROOT, split="train"):
    """Return (images uint8 [N,28,28], labels int64 [N])."""
    ip, lp = split_paths(root, split)
    images = read_idx(ip)
    labels = read_idx(lp).astype(np.int64)
    if images.ndim != 3 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{ip}: unexpected shapes {images.shape} / {labels.shape}")
    return images, labels


def normalize(images_u8):
    """uint8 [N,28,28] (or [N,1,28,28]) -> float32 [N,1,28,28] normalized."""
    x = images_u8.astype(np.float32)
    if x.ndim == 3:
        x = x[:, None]
    return ((x / 255.0 - MEAN) / STD).astype(np.float32)


class BatchLoader:
    """Iterate over (x, y) torch batches from in-memory uint8 images.

    augment=True: random crop 28x28 from the image zero-padded by `pad` (padding value is
    black, i.e. pixel 0 before normalization; pad=0: no crop) and, if flip, a random horizontal
    flip, per sample.
    """

    def __init__(self, images_u8, labels, batch_size=128, shuffle=False, augment=False,
                 pad=2, seed=0, drop_last=False, flip=True):
        import torch
        self.torch = torch
        self.x = torch.from_numpy(normalize(images_u8))
        self.y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.bs = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.pad = pad
        self.flip = flip
        self.drop_last = drop_last
        self.gen = torch.Generator().manual_seed(seed)
        self.zero = (0.0 - MEAN) / STD  # normalized value of a black pixel

    def __len__(self):
        n = self.x.shape[0]
        return n // self.bs if self.drop_last else (n + self.bs - 1) // self.bs

    def _augment(self, xb):
        torch = self.torch
        n, c, h, w = xb.shape
        p = self.pad
        padded = torch.full((n, c, h + 2 * p, w + 2 * p), self.zero, dtype=xb.dtype)
        padded[:, :, p:p + h, p:p + w] = xb
        oy = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
        ox = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
        rows = (oy[:, None] + torch.arange(h)[None, :])  # [n,h]
        cols = (ox[:, None] + torch.arange(w)[None, :])  # [n,w]
        if self.flip:
            flip = torch.rand(n, generator=self.gen) < 0.5
            cols = torch.where(flip[:, None], cols.flip(1), cols)
        bidx = torch.arange(n)[:, None, None]
        out = padded[:, 0][bidx, rows[:, :, None], cols[:, None, :]]  # [n,h,w]
        return out[:, None].contiguous()

    def __iter__(self):
        torch = self.torch
        n = self.x.shape[0]
        order = torch.randperm(n, generator=self.gen) if self.shuffle else torch.arange(n)
        stop = (n // self.bs) * self.bs if self.drop_last else n
        for i in range(0, stop, self.bs):
            idx = order[i:i + self.bs]
            xb, yb = self.x[idx], self.y[idx]
            if self.augment:
                xb = self._augment(xb)
            yield xb, yb


def evaluate(model, images_u8, labels, batch_size=500):
    """Return dict(top1, top5 in percent, correct, correct5, samples, preds) in eval mode."""
    import torch
    model.eval()
    loader = BatchLoader(images_u8, labels, batch_size=batch_size)
    c1 = c5 = 0
    preds = []
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            top5 = logits.topk(5, dim=1).indices
            c1 += int((top5[:, 0] == yb).sum())
            c5 += int((top5 == yb[:, None]).any(dim=1).sum())
            preds.append(top5[:, 0].numpy())
    n = int(labels.shape[0])
    return {"top1": 100.0 * c1 / n, "top5": 100.0 * c5 / n, "correct": c1,
            "correct_top5": c5, "samples": n, "preds": np.concatenate(preds)}


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Print Fashion-MNIST split statistics.")
    ap.add_argument("--data", default=DEFAULT_ROOT)
    args = ap.parse_args()
    for s in ("train", "t10k"):
        im, lb = load_split(args.data, s)
        x = im.astype(np.float64) / 255.0
        print(f"{s}: {im.shape} labels {np.bincount(lb).tolist()} mean {x.mean():.4f} std {x.std():.4f}")


def file_sha256(path):
    """Hex SHA-256 of a file (fingerprints the exported models in metrics and MODELS.md)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def accuracy_fields(m):
    """The metrics-JSON fields of an evaluate() result on the t10k split (shared by every training script)."""
    return {"split": "t10k", "samples": m["samples"], "top1": round(m["top1"], 2), "top5": round(m["top5"], 2),
            "correct": m["correct"], "correct_top5": m["correct_top5"]}
