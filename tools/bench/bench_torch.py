#!/usr/bin/python3
"""PyTorch FP32 side of qvit's float forward benchmark (docs/benchmarks.md).

Builds the same model that tools/make_parity_cases.py exports as deit_s_op17 — torchvision
VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384,
mlp_dim=1536), random weights (seed 0; the values do not change the speed) — in eval mode, with
torch.set_num_threads(THREADS), and times its forward under torch.inference_mode() at batch 1 and 8:
warmup, then a timed loop of at least --min-time seconds. Prints one JSON line:
  {"batch1_ips": ..., "batch8_ips": ..., ...}

Note: under inference_mode, eval-mode nn.MultiheadAttention takes PyTorch's fused fast path
(torch._native_multi_head_attention) — what a PyTorch user gets by default. The exported ONNX (and so
qvit and ONNX Runtime) runs the decomposed attention of the same model.

Run with Debian's interpreter (/usr/bin/python3): torch/torchvision exist only there.
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--min-time", type=float, default=3.0, help="seconds of timed iterations per batch size")
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    try:
        import torch
        import torchvision
        from torchvision.models.vision_transformer import VisionTransformer
    except ImportError as e:
        print(f"bench_torch: {e} (run with /usr/bin/python3 and python3-torch, python3-torchvision)", file=sys.stderr)
        return 1

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = dict(image_size=224, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536)
    model = VisionTransformer(**cfg).eval()

    result = {"engine": "pytorch", "version": torch.__version__, "torchvision": torchvision.__version__,
              "threads": torch.get_num_threads()}
    gen = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for b in [int(s) for s in args.batches.split(",") if s]:
            x = torch.randn(b, 3, 224, 224, generator=gen)
            for _ in range(args.warmup):
                model(x)
            times = []
            c0 = time.process_time()  # CPU time of all threads of the process
            t0 = time.perf_counter()
            while True:
                s = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - s)
                if len(times) >= 5 and time.perf_counter() - t0 >= args.min_time:
                    break
            cpu = time.process_time() - c0
            median = sorted(times)[len(times) // 2]
            result[f"batch{b}_ips"] = b * len(times) / sum(times)
            result[f"batch{b}_median_ips"] = b / median
            result[f"batch{b}_iters"] = len(times)
            result[f"batch{b}_cpu_s_per_image"] = cpu / (b * len(times))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
