"""Baseline for `detsharp benchmark infer` with the Mask R-CNN R50-FPN config: torchvision's
maskrcnn_resnet50_fpn on the same images, same scale (800 short side, 1333 max), 1000 RPN
proposals, score threshold 0 and 100 detections per image, masks pasted to full size, on the
same number of threads. Random weights (as our benchmark without a checkpoint), so every image
yields 100 detections in both.

    /usr/bin/python3 bench/torchvision_maskrcnn_infer.py ../shared/datasets/coco_mini/val2017 3 \
        ../shared/datasets/coco_mini/annotations/instances_val2017.json

With the annotation file, the first images in its order (the ones `detsharp benchmark infer` takes); `--warmup N`
untimed images first (default 2), `--json` prints the result as JSON (bench/compare_torchvision.sh reads it).

Debian's python3-torch / python3-torchvision (apt) are enough; nothing in the test suite runs this.
"""
import argparse
import json
import os
import resource
import time

import torch
import torchvision
from torchvision.io import read_image

parser = argparse.ArgumentParser()
parser.add_argument("folder")
parser.add_argument("count", type=int, nargs="?", default=3)
parser.add_argument("ann_file", nargs="?")
parser.add_argument("--warmup", type=int, default=2, help="untimed images first")
parser.add_argument("--json", action="store_true", help="print the result as JSON (MsPerImage, ...) instead")
args = parser.parse_args()
folder, count = args.folder, args.count
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
model = torchvision.models.detection.maskrcnn_resnet50_fpn(
    weights=None, weights_backbone=None, min_size=800, max_size=1333,
    rpn_post_nms_top_n_test=1000, box_score_thresh=0.0, box_detections_per_img=100).eval()
if args.ann_file:
    with open(args.ann_file) as f:
        files = [im["file_name"] for im in json.load(f)["images"]][:count]
else:
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:count]
images = [read_image(os.path.join(folder, f)).float() / 255 for f in files]

times = []
detections = 0
with torch.inference_mode():
    for warm in range(args.warmup):
        model([images[warm % len(images)]])
    for i, img in enumerate(images):
        t = time.perf_counter()
        out = model([img])[0]
        times.append(time.perf_counter() - t)
        detections += len(out["boxes"])
        if not args.json:
            print(f"image {i + 1}/{len(images)}: {times[-1] * 1000:.0f} ms, {len(out['boxes'])} detections")
ms = sum(times) / len(times) * 1000
if args.json:
    print(json.dumps({"Images": len(images), "MsPerImage": ms, "MeanDetections": detections / len(images),
                      "PeakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "Threads": torch.get_num_threads()}, indent=2))
else:
    print(f"{len(images)} images: {ms:.0f} ms/img "
          f"(torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()})")
