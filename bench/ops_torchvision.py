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


# ResNet-50's deformable 3x3 convs (c3-c5) at a 1333x800 input padded to 1344x800: stage, channels, height, width.
DEFORM_CONV_LAYERS = [('c3', 128, 100, 168), ('c4', 256, 50, 84), ('c5', 512, 25, 42)]


def deform_conv_inputs(c, h, w):
    def formula(n):
        return torch.arange(n, dtype=torch.float32)
    x = (formula(c * h * w) * 0.001).sin().reshape(1, c, h, w)
    offset = ((formula(18 * h * w) * 0.0007 + 1).sin() * 4).reshape(1, 18, h, w)
    mask = ((formula(9 * h * w) * 0.0013).sin() * 0.5 + 0.5).reshape(1, 9, h, w)
    weight = ((formula(c * c * 9) * 0.01).cos() / (9.0 * c) ** 0.5).reshape(c, c, 3, 3)
    return x, offset, mask, weight


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
    for stage, c, h, w in DEFORM_CONV_LAYERS:
        x, offset, mask, weight = deform_conv_inputs(c, h, w)
        for modulated in (False, True):
            m = mask if modulated else None
            label = f"{'DCNv2' if modulated else 'DCN'} ResNet-50 {stage} {c}ch {h}x{w}"

            def dcn_fwd():
                with torch.no_grad():
                    torchvision.ops.deform_conv2d(x, offset, weight, None, padding=(1, 1), mask=m)

            def dcn_fwd_bwd():
                leaves = [t.detach().requires_grad_(True) for t in (x, offset, weight)]
                mm = m.detach().requires_grad_(True) if m is not None else None
                torchvision.ops.deform_conv2d(leaves[0], leaves[1], leaves[2], None, padding=(1, 1), mask=mm).sum().backward()

            report(f"{label} forward", dcn_fwd)
            report(f"{label} fwd+bwd", dcn_fwd_bwd)
    b1, b2 = overlap_boxes(2000, 0), overlap_boxes(100, 7)
    report("bbox_overlaps 2,000 x 100 (iou)", lambda: torchvision.ops.box_iou(b1, b2))


if __name__ == "__main__":
    main()
