"""Baseline for `detsharp benchmark train` with the Mask R-CNN R50-FPN config (mask_rcnn_r50_fpn_1x_coco.py, random
init): torchvision's Mask R-CNN R-50-FPN training step on the same COCO images, built to match the config where
torchvision allows it:

- data: the annotation file's images with at least one usable object (MMDetection's filter_empty_gt; crowd regions and
  boxes under 1 px or of area 0 dropped, as its CocoDataset does), shuffled (seed 0), batch 2; polygons rasterised with
  PIL (crowd RLE is not needed: crowd regions are ignored, not trained); horizontal flip with probability 0.5; resize to
  800 short side / 1333 long side at most and padding to a multiple of 32 (torchvision's GeneralizedRCNNTransform: the
  same rule as `Resize(img_scale=(1333, 800), keep_ratio=True)` + `Pad(size_divisor=32)`), ImageNet mean/std;
  2 loader worker processes (the config's workers_per_gpu=2);
- model: ResNet-50 (random init, frozen BN statistics as `norm_eval=True`, stem and layer1 frozen as `frozen_stages=1`;
  torchvision's FrozenBatchNorm2d, whose affine parameters are fixed too, as the config with
  `model.backbone.norm_cfg.requires_grad=False`; `--train-bn-affine` trains them as the config's default
  `requires_grad=True`: BatchNorm2d layers kept in eval mode),
  FPN, 80 classes + background; RPN 2000 proposals per level before NMS and 1000 per image after it (train_cfg.rpn_proposal),
  256 anchors sampled per image with half positives; 512 RoIs per image with a quarter positives (train_cfg.rcnn);
- SGD lr 0.02, momentum 0.9, weight decay 1e-4, with the config's linear warm-up (500 iterations from 0.001 x lr);
- THREADS (default 2) intra-op threads.

Prints each iteration's time, then the mean and median s/iter after the warm-up iterations, data time and peak RSS
of this process (the loader workers are separate processes here; DetSharp's are threads of its process); `--json`
prints the result as JSON instead.

    /usr/bin/python3 bench/torchvision_maskrcnn_train.py ../shared/datasets/coco_mini/train2017 \
        ../shared/datasets/coco_mini/annotations/instances_train2017.json --iters 3

Debian's python3-torch / python3-torchvision / python3-pil (apt) are enough; nothing in the test suite runs this.
"""
import argparse
import json
import os
import random
import resource
import statistics
import sys
import time

import torch
import torchvision
from PIL import Image, ImageDraw
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import misc as misc_nn_ops
from torchvision.transforms.functional import pil_to_tensor


def usable_annotations(anns):
    """MMDetection's CocoDataset._parse_ann_info: crowd regions ignored, boxes under 1 px or of area 0 dropped."""
    return [a for a in anns if not a.get("iscrowd", 0) and a["bbox"][2] >= 1 and a["bbox"][3] >= 1 and a.get("area", 1) > 0
            and a.get("segmentation")]


class CocoMasks(torch.utils.data.Dataset):
    """COCO images with boxes, labels (1..80 in category-id order) and polygon masks, flipped with probability 0.5."""

    def __init__(self, folder, ann_file, seed=0):
        with open(ann_file) as f:
            coco = json.load(f)
        cat_ids = sorted(c["id"] for c in coco["categories"])
        self.label = {cid: i + 1 for i, cid in enumerate(cat_ids)}
        per_image = {}
        for a in coco["annotations"]:
            per_image.setdefault(a["image_id"], []).append(a)
        self.items = []
        for im in coco["images"]:
            anns = usable_annotations(per_image.get(im["id"], []))
            if anns and min(im["width"], im["height"]) >= 32:
                self.items.append((os.path.join(folder, im["file_name"]), anns))
        self.seed = seed

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, anns = self.items[index]
        image = Image.open(path).convert("RGB")
        w, h = image.size
        masks = torch.zeros(len(anns), h, w, dtype=torch.uint8)
        for k, a in enumerate(anns):
            seg = a["segmentation"]
            if not isinstance(seg, list):
                raise SystemExit(f"{path}: annotation {a['id']} is RLE but not crowd; only polygons are rasterised here")
            canvas = Image.new("L", (w, h), 0)
            draw = ImageDraw.Draw(canvas)
            for poly in seg:
                if len(poly) >= 6:
                    draw.polygon(poly, outline=1, fill=1)
            masks[k] = pil_to_tensor(canvas)[0]
        boxes = torch.tensor([[x, y, x + bw, y + bh] for x, y, bw, bh in (a["bbox"] for a in anns)], dtype=torch.float32)
        labels = torch.tensor([self.label[a["category_id"]] for a in anns], dtype=torch.int64)
        img = pil_to_tensor(image).float() / 255
        if random.Random(self.seed * 1_000_003 + index).random() < 0.5:
            img, masks = img.flip(-1), masks.flip(-1)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        return img, {"boxes": boxes, "labels": labels, "masks": masks}


class EvalBatchNorm2d(torch.nn.BatchNorm2d):
    """MMDetection's norm_eval=True: running statistics frozen (always eval mode), affine parameters trained."""

    def train(self, mode=True):
        return super().train(False)


def build_model(train_bn_affine=False):
    backbone = resnet50(weights=None, norm_layer=EvalBatchNorm2d if train_bn_affine else misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, trainable_layers=3)
    return MaskRCNN(backbone, num_classes=81, min_size=800, max_size=1333,
                    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
                    rpn_batch_size_per_image=256, rpn_positive_fraction=0.5,
                    box_batch_size_per_image=512, box_positive_fraction=0.25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("ann_file")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-bn-affine", action="store_true",
                        help="train the backbone's BN weight and bias (the config's default norm_cfg requires_grad=True)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(0)
    log = sys.stderr if args.json else sys.stdout

    dataset = CocoMasks(args.folder, args.ann_file)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         collate_fn=lambda b: tuple(zip(*b)), generator=torch.Generator().manual_seed(0),
                                         drop_last=True, persistent_workers=args.workers > 0)
    model = build_model(args.train_bn_affine).train()
    params = [p for p in model.parameters() if p.requires_grad]
    base_lr = 0.02
    optimizer = torch.optim.SGD(params, lr=base_lr, momentum=0.9, weight_decay=1e-4)

    def batches():
        while True:
            yield from loader

    times, data_times, losses = [], [], []
    it = batches()
    total = args.warmup + args.iters
    for i in range(total):
        start = time.perf_counter()
        images, targets = next(it)
        data = time.perf_counter() - start
        for group in optimizer.param_groups:  # mmcv's linear warm-up: warmup_iters=500, warmup_ratio=0.001
            group["lr"] = base_lr * (1 - (1 - i / 500) * (1 - 0.001))
        loss_dict = model(list(images), list(targets))
        loss = sum(loss_dict.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds = time.perf_counter() - start
        losses.append(loss.item())
        if i >= args.warmup:
            times.append(seconds)
            data_times.append(data)
        print(f"iter {i - args.warmup + 1}/{args.iters}: {seconds:.3f} s (data {data:.3f} s), loss {losses[-1]:.4f}"
              f"{' [warm-up]' if i < args.warmup else ''}", file=log, flush=True)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "Iters": len(times), "SecondsPerIter": statistics.mean(times), "MedianSecondsPerIter": statistics.median(times),
        "DataTime": statistics.mean(data_times), "PeakRssBytes": peak, "Losses": losses, "IterSeconds": times,
        "Torch": torch.__version__, "Torchvision": torchvision.__version__, "Threads": torch.get_num_threads(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(times)} iters: {result['SecondsPerIter']:.3f} s/iter (median {result['MedianSecondsPerIter']:.3f}), "
              f"data_time {result['DataTime']:.3f} s/iter, peak RSS {peak / 2**20:.0f} MiB, last loss {losses[-1]:.4f} "
              f"(torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
