#!/usr/bin/python3
"""Golden values for the calibration observers (tests/unit/calib_observers_test.cc), computed by numpy.

Writes tests/golden/observers/data.npy (float32 [3, 20000]: normal, heavy-tailed Student-t(2) with a few
outliers, and post-GELU-like half-rectified values) and expected.json with, per row, min, max and
numpy.percentile (linear interpolation) at several percentile pairs.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "golden", "observers")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    n = 20000
    normal = rng.standard_normal(n)
    heavy = rng.standard_t(2, n)
    heavy[rng.choice(n, 5, replace=False)] = [80.0, -65.0, 120.0, 55.5, -90.25]
    x = rng.standard_normal(n) * 2.0
    gelu_like = x * 0.5 * (1.0 + np.tanh(0.79788456 * (x + 0.044715 * x ** 3)))
    data = np.stack([normal, heavy, gelu_like]).astype(np.float32)
    np.save(os.path.join(OUT, "data.npy"), data)
    pairs = [[0.1, 99.9], [1.0, 99.0], [0.01, 99.99], [0.0, 100.0], [5.0, 95.0]]
    rows = []
    for r in data:
        row = {"min": float(r.min()), "max": float(r.max()), "percentiles": []}
        for lo, hi in pairs:
            row["percentiles"].append({"lower": lo, "upper": hi,
                                       "lo": float(np.percentile(r.astype(np.float64), lo)),
                                       "hi": float(np.percentile(r.astype(np.float64), hi))})
        rows.append(row)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"numpy": np.__version__, "rows": rows}, f, indent=1)
    print(f"wrote {OUT}/data.npy and expected.json")


if __name__ == "__main__":
    main()
