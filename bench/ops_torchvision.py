"""Native torchvision timings for the DetSharp `ops` suite (same inputs, same cases).

Run: python3 bench/ops_torchvision.py [--reps N] [--warmup N] [--filter TEXT]
Needs Debian's python3-torchvision with OpenBLAS (apt-get install -y python3-torchvision libopenblas0-pthread).
Inputs are the deterministic formulas of DetSharp.Benchmarks.OpsBenchmark (no RNG).
"""
import argparse
import os
import statistics
import time

import torch
import torchvision


def feature():
    return (torch.arange(256 * 200 * 304, dtype=torch.float32) * 0.001).sin().reshape(1, 256, 200, 304)


def rois():
    r = []
    for i in range(512):
        w, h = 16 + (i * 97 % 241), 16 + (i * 61 % 241)
        x, y = i * 131 % (1216 - w), i * 71 % (800 - h)
        r.append([0, x + 0.25, y + 0.5, x + w, y + h])
    return torch.tensor(r, dtype=torch.float32)


def nms_inputs(n):
    b, s = [], []
    for i in range(n):
        cx, cy = 50 + (i * 37 % 600), 50 + (i * 53 % 400)
        w, h = 40 + (i * 13 % 60), 40 + (i * 17 % 60)
        b.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        s.append((i * 7919 % 10007) / 10007)
    return torch.tensor(b, dtype=torch.float32), torch.tensor(s, dtype=torch.float32)


def overlap_boxes(n, seed):
    b = []
    for i in range(n):
        x, y = (i * 37 + seed) % 1000, (i * 53 + seed) % 700
        b.append([x, y, x + 10 + (i * 13 % 200), y + 10 + (i * 17 % 200)])
    return torch.tensor(b, dtype=torch.float32)


def median_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--filter", default=None)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())  # Debian's build defaults to 1 thread here
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}")
    print("| case | native torchvision ms |")
    print("|---|---:|")

    def report(name, fn):
        if a.filter is None or a.filter.lower() in name.lower():
            print(f"| {name} | {median_ms(fn, a.reps, a.warmup):.1f} |", flush=True)

    f, r = feature(), rois()
    for size in (7, 14):
        for sampling in (0, 2):
            label = f"RoIAlign {size}x{size} sampling {sampling}"

            def fwd():
                with torch.no_grad():
                    torchvision.ops.roi_align(f, r, (size, size), 0.25, sampling, aligned=True)

            def fwd_bwd():
                x = f.detach().requires_grad_(True)
                torchvision.ops.roi_align(x, r, (size, size), 0.25, sampling, aligned=True).sum().backward()

            report(f"{label} forward", fwd)
            report(f"{label} fwd+bwd", fwd_bwd)
    for n in (1000, 4000):
        boxes, scores = nms_inputs(n)
        report(f"NMS {n:,} boxes", lambda: torchvision.ops.nms(boxes, scores, 0.5))
    b1, b2 = overlap_boxes(2000, 0), overlap_boxes(100, 7)
    report("bbox_overlaps 2,000 x 100 (iou)", lambda: torchvision.ops.box_iou(b1, b2))


if __name__ == "__main__":
    main()
