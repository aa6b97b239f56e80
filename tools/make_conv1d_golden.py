#!/usr/bin/python3
"""Golden cases for 1-D Conv ([N, C, L] input, [M, C/group, K] weight), computed by numpy.

Writes tests/golden/conv1d/case<k>_{x,w,y,attrs}.npy (and case<k>_b.npy when the case has a bias),
read by tests/unit/conv1d_golden_test.cc, which builds each Conv as an ONNX model and compares
qvit's output with y. attrs is int64 [stride, pad_begin, pad_end, dilation, group, auto_pad] with
auto_pad 0 = NOTSET (explicit pads), 1 = SAME_UPPER, 2 = SAME_LOWER, 3 = VALID. The reference is
a direct float64 sum over the kernel taps (no im2col), so it checks qvit's lowering of 1-D to 2-D.
Deterministic: a fixed seed, so re-running rewrites identical files.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "golden", "conv1d")
AUTO_PAD = {"NOTSET": 0, "SAME_UPPER": 1, "SAME_LOWER": 2, "VALID": 3}

# (N, C, L, M, K, stride, pad_begin, pad_end, dilation, group, bias, auto_pad)
CASES = [
    (2, 3, 11, 4, 3, 1, 0, 0, 1, 1, True, "NOTSET"),    # plain
    (1, 2, 9, 3, 4, 2, 1, 2, 1, 1, False, "NOTSET"),    # stride, asymmetric pads, no bias
    (2, 3, 12, 5, 3, 1, 2, 2, 2, 1, True, "NOTSET"),    # dilation
    (1, 4, 17, 6, 3, 3, 0, 1, 2, 2, True, "NOTSET"),    # groups with stride and dilation
    (2, 3, 10, 3, 5, 1, 2, 2, 1, 3, False, "NOTSET"),   # depthwise
    (1, 2, 10, 3, 4, 2, 0, 0, 1, 1, True, "SAME_UPPER"),
    (1, 2, 10, 3, 4, 3, 0, 0, 2, 1, True, "SAME_LOWER"),
    (1, 2, 8, 2, 3, 2, 0, 0, 1, 1, False, "VALID"),
    (1, 1, 1, 2, 1, 1, 3, 0, 1, 1, True, "NOTSET"),     # length 1, padding only on one side
]


def auto_pads(length, k, stride, dilation, mode):
    """Begin and end padding of ONNX auto_pad (as onnx's reference implementation computes it)."""
    if mode == "VALID":
        return 0, 0
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + dilation * (k - 1) + 1 - length)
    small = total // 2
    return (small, total - small) if mode == "SAME_UPPER" else (total - small, small)


def conv1d(x, w, b, stride, pad_begin, pad_end, dilation, group):
    n, c, length = x.shape
    m, cg, k = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad_begin, pad_end)))
    out_len = (length + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((n, m, out_len))
    mg = m // group
    for oc in range(m):
        g = oc // mg
        for o in range(out_len):
            for t in range(k):
                y[:, oc, o] += xp[:, g * cg:(g + 1) * cg, o * stride + t * dilation] @ w[oc, :, t].astype(np.float64)
    if b is not None:
        y += b.astype(np.float64)[None, :, None]
    return y.astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    for i, (n, c, length, m, k, stride, pb, pe, dil, group, has_bias, mode) in enumerate(CASES):
        x = rng.standard_normal((n, c, length)).astype(np.float32)
        w = rng.standard_normal((m, c // group, k)).astype(np.float32)
        b = rng.standard_normal(m).astype(np.float32) if has_bias else None
        if mode != "NOTSET":
            pb, pe = auto_pads(length, k, stride, dil, mode)
        y = conv1d(x, w, b, stride, pb, pe, dil, group)
        attrs = np.array([stride, pb, pe, dil, group, AUTO_PAD[mode]], dtype=np.int64)
        base = os.path.join(OUT, f"case{i}")
        np.save(base + "_x.npy", x)
        np.save(base + "_w.npy", w)
        if b is not None:
            np.save(base + "_b.npy", b)
        np.save(base + "_y.npy", y)
        np.save(base + "_attrs.npy", attrs)
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
