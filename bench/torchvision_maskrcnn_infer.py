"""Baseline for `detsharp benchmark infer` with the Mask R-CNN R50-FPN config: torchvision's
maskrcnn_resnet50_fpn on the same images, same scale (800 short side, 1333 max), 1000 RPN
proposals, score threshold 0 and 100 detections per image, masks pasted to full size, on the
same number of threads. Random weights (as our benchmark without a checkpoint), so every image
yields 100 detections in both.

    /usr/bin/python3 bench/torchvision_maskrcnn_infer.py ../shared/datasets/coco_mini/val2017 3 \
        ../shared/datasets/coco_mini/annotations/instances_val2017.json

With the annotation file, the first images in its order (the ones `detsharp benchmark infer` takes).

Debian's python3-torch / python3-torchvision (apt) are enough; nothing in the test suite runs this.
"""
import json
import os
import sys
import time

import torch
import torchvision
from torchvision.io import read_image

folder, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
model = torchvision.models.detection.maskrcnn_resnet50_fpn(
    weights=None, weights_backbone=None, min_size=800, max_size=1333,
    rpn_post_nms_top_n_test=1000, box_score_thresh=0.0, box_detections_per_img=100).eval()
if len(sys.argv) > 3:
    with open(sys.argv[3]) as f:
        files = [im["file_name"] for im in json.load(f)["images"]][:count]
else:
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:count]
images = [read_image(os.path.join(folder, f)).float() / 255 for f in files]

times = []
with torch.inference_mode():
    for warm in range(2):
        model([images[warm % len(images)]])
    for i, img in enumerate(images):
        t = time.perf_counter()
        out = model([img])[0]
        times.append(time.perf_counter() - t)
        print(f"image {i + 1}/{len(images)}: {times[-1] * 1000:.0f} ms, {len(out['boxes'])} detections")
print(f"{len(images)} images: {sum(times) / len(times) * 1000:.0f} ms/img "
      f"(torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()})")
