"""PyTorch baseline for `detsharp benchmark infer` with the YOLOX configs: MMDetection 2.28.2's own YOLOX (the local
reference of ../shared/docs/oracle.md, on Debian's torch) through `inference_detector`, so the same test pipeline
(Resize keep_ratio to the test size, Pad to square with 114, no normalisation), the same random-weight model
(score_thr 0, NMS 0.65, no max_per_img) and the same images, on the same number of threads.

    /usr/bin/python3 bench/mmdet_yolox_infer.py ORACLE_DIR CONFIG ../shared/datasets/coco_mini/val2017 3 \
        ../shared/datasets/coco_mini/annotations/instances_val2017.json

ORACLE_DIR holds `oracle_env.py` (mmcv's compiled ops replaced by torchvision's nms / roi_align) and the MMDetection,
mmcv and addict sources. With the annotation file, the first images in its order (the ones `detsharp benchmark infer`
takes). Nothing in the test suite runs this.
"""
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
import oracle_env  # noqa: F401,E402  (must come before mmcv / mmdet)
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.apis import inference_detector, init_detector  # noqa: E402

config, folder = sys.argv[2], sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 3
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
cfg = Config.fromfile(config)
cfg.model.test_cfg.score_thr = 0.0
model = init_detector(cfg, None, device="cpu")
if len(sys.argv) > 5:
    with open(sys.argv[5]) as f:
        files = [im["file_name"] for im in json.load(f)["images"]][:count]
else:
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:count]
paths = [os.path.join(folder, f) for f in files]

times = []
for warm in range(1):
    inference_detector(model, paths[warm % len(paths)])
for i, path in enumerate(paths):
    t = time.perf_counter()
    out = inference_detector(model, path)
    times.append(time.perf_counter() - t)
    print(f"image {i + 1}/{len(paths)}: {times[-1] * 1000:.0f} ms, {sum(len(c) for c in out)} detections")
print(f"{len(paths)} images: {sum(times) / len(times) * 1000:.0f} ms/img (torch {torch.__version__}, threads {torch.get_num_threads()})")
