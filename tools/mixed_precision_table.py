#!/usr/bin/python3
"""The mixed-precision table (README "Mixed precision", issue 10): integer-only top-1 on each
model's 10k test split at the same average weight and activation bits (4 and 6), for uniform
widths, LRP-allocated widths (LRP-QViT) and the sensitivity baseline, with and without clipped
reparameterization (CRL). Every run is `qvit calibrate` + `qvit eval --int`; per-run JSON goes to
OUT (default build/mixed_precision/); results already there are reused (delete to re-measure).

    tools/mixed_precision_table.py [--models deit_fmnist,swin_fmnist,...] [--bits 4,6] [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    # name: (model, calibration data args, eval args)
    "deit_fmnist": ("models/deit_fmnist.onnx", ["--preset", "fmnist"], ["--preset", "fmnist"]),
    "swin_fmnist": ("models/swin_fmnist.onnx", ["--preset", "fmnist"], ["--preset", "fmnist"]),
    "vit4mnist": ("../shared/data/models/vit4mnist_op13.onnx", ["--data", "../shared/data/mnist"], []),
    "zoo_tv_vit": ("models/zoo/tv_vit_op17_dyn.onnx", ["--preset", "fmnist"], ["--preset", "fmnist"]),
    "zoo_layerscale": ("models/zoo/layerscale_op13_b2.onnx", ["--preset", "fmnist"], ["--preset", "fmnist"]),
    "zoo_cct": ("models/zoo/cct_op13_b2.onnx", ["--preset", "fmnist"], ["--preset", "fmnist"]),
}
WIDTHS = {4: [3, 4, 5, 6, 8], 6: [4, 5, 6, 7, 8]}
# "lrp-qvit" is the paper's full rule: LRP widths with the first two blocks above the budget.
SCORERS = ["uniform", "lrp", "lrp-qvit", "sensitivity"]


def recipe(bits, crl, scorer):
    r = {
        "format": "qvit.recipe/1",
        "name": f"w{bits}a{bits}-{'crl' if crl else 'lw'}-{scorer}",
        "weights": {"bits": bits, "observer": "minmax"},
        "activations": {"bits": bits, "observer": "percentile", "percentile": [0.1, 99.9]},
        "softmax": {"quantizer": "log_sqrt2"},
        "post_layernorm": {"mode": "crl", "clip_k": 3.0} if crl else {"mode": "layerwise"},
        "samples": 32,
    }
    if scorer != "uniform":
        r["allocation"] = {"scorer": "lrp" if scorer == "lrp-qvit" else scorer, "widths": WIDTHS[bits], "weight_budget": bits,
                           "activation_budget": bits}
        if scorer == "lrp-qvit":
            r["allocation"]["high_precision_blocks"] = 2
    return r


def run(cmd):
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--bits", default="4,6")
    ap.add_argument("--scorers", default=",".join(SCORERS), help="columns to measure (uniform and lrp are always needed)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mixed_precision"))
    ap.add_argument("--qvit", default=os.path.join(ROOT, "build", "qvit"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    scorers = [s for s in SCORERS if s in a.scorers.split(",")]
    rows = []
    for name in a.models.split(","):
        model, calib_args, eval_args = MODELS[name]
        if not os.path.exists(os.path.join(ROOT, model)):
            print(f"skipping {name}: {model} missing", file=sys.stderr)
            continue
        for bits in [int(b) for b in a.bits.split(",")]:
            for crl in (True, False):
                row = {"model": name, "bits": bits, "crl": crl}
                for scorer in scorers:
                    tag = f"{name}_w{bits}a{bits}_{'crl' if crl else 'lw'}_{scorer}"
                    base = os.path.join(a.out, tag)
                    if not os.path.exists(base + ".int.json"):
                        with open(base + ".recipe.json", "w") as f:
                            json.dump(recipe(bits, crl, scorer), f, indent=1)
                        t0 = time.time()
                        run([a.qvit, "calibrate", model, *calib_args, "--recipe", base + ".recipe.json", "-q", "-o", base + ".calib.json"])
                        calib_s = time.time() - t0
                        run([a.qvit, "eval", model, *eval_args, "--calib", base + ".calib.json", "--int", "--compare", "-q", "--json", base + ".int.json"])
                        with open(base + ".time.json", "w") as f:
                            json.dump({"calibrate_seconds": calib_s}, f)
                    ev = json.load(open(base + ".int.json"))
                    cal = json.load(open(base + ".calib.json"))
                    al = cal.get("allocation")
                    row["float"] = ev["float_top1"]
                    row[scorer] = ev["top1"]
                    row[scorer + "_bits"] = (al["weight_bits_avg"], al["activation_bits_avg"]) if al else (bits, bits)
                    row[scorer + "_truncations"] = sum(k["truncations"] for k in ev["truncation_per_kernel"])
                rows.append(row)
                print(f"{name} w{bits}a{bits} {'crl' if crl else 'lw'}: " +
                      " ".join(f"{s} {row[s]:.2f}" for s in scorers), file=sys.stderr, flush=True)
    json.dump(rows, open(os.path.join(a.out, "mixed_precision.json"), "w"), indent=1)
    names = {"uniform": "uniform", "lrp": "LRP", "lrp-qvit": "LRP-QViT (+2 blocks)", "sensitivity": "sensitivity"}
    cols = [c for c in SCORERS if c in scorers]
    print("| model | bits | post-LN | float | " + " | ".join(names[c] for c in cols) +
          " | LRP − uniform | LRP − sensitivity | avg bits w / a (LRP) |")
    print("|---" * (len(cols) + 7) + "|")
    for r in rows:
        wb, ab = r["lrp_bits"]
        print(f"| {r['model']} | {r['bits']} | {'CRL' if r['crl'] else 'layer-wise'} | {r['float']:.2f} | " +
              " | ".join(f"{r[c]:.2f}" for c in cols) +
              f" | {r['lrp'] - r['uniform']:+.2f} | {r['lrp'] - r['sensitivity']:+.2f} | {wb:.3f} / {ab:.3f} |")
    for bits in sorted({r["bits"] for r in rows}):
        sel = [r for r in rows if r["bits"] == bits]
        mean = lambda k: sum(r[k] for r in sel) / len(sel)
        print(f"| mean | {bits} | both | {mean('float'):.2f} | " + " | ".join(f"{mean(c):.2f}" for c in cols) +
              f" | {mean('lrp') - mean('uniform'):+.2f} | {mean('lrp') - mean('sensitivity'):+.2f} | |")

if __name__ == "__main__":
    main()
