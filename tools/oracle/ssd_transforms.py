#!/usr/bin/python3
"""SSD's data transforms in MMDetection 2.28.2 (the local oracle at /work/oracle; this script imports mmdet from there
and is not part of DetSharp's runtime), with the random draws recorded so that DetSharp's test replays them.
Writes tests/fixtures/mmdet-2.28/ssd/ssd_transforms.json.

Every random call of the transforms (numpy's `random` module in mmdet/datasets/pipelines/transforms.py, and
`np.random.choice` in RandomFlip) is replaced by one that takes u from a seeded RandomState and records it:
uniform(low=0, high=1) = low + (high - low) * u, randint(n) = int(u * n), choice(seq) = seq[int(u * len(seq))],
choice(seq, p) = seq[first index whose normalised cumulative p exceeds u], permutation(3) = Fisher-Yates from the last
index down, j = int(u * (i + 1)). DetSharp's transforms draw the same way from System.Random (Next(n) = int(u * n)).

Input: a 90x120 BGR uint8 image with pixel (y, x, c) = (3x + 5y + 40c + (x*y) % 7) % 256, gt_bboxes
(10, 12, 50, 70), (60, 20, 110, 80), (30, 40, 45, 55) with labels 0, 1, 2, and an empty gt_bboxes_ignore
(bbox_fields = ['gt_bboxes_ignore', 'gt_bboxes'], as LoadAnnotations leaves them).

Usage: /usr/bin/python3 tools/oracle/ssd_transforms.py OUT.json
"""
import json
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import numpy as np  # noqa: E402
import mmdet.datasets.pipelines.transforms as T  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402

MEAN = [123.675, 116.28, 103.53]
SSD_TRAIN = [
    dict(type='Expand', mean=MEAN, to_rgb=True, ratio_range=(1, 4)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', img_scale=(300, 300), keep_ratio=False),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
         hue_delta=18),
    dict(type='Normalize', mean=MEAN, std=[1, 1, 1], to_rgb=True),
]


class Scripted:
    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.log = []

    def _u(self):
        u = float(self.rs.random_sample())
        self.log.append(u)
        return u

    def uniform(self, low=0.0, high=1.0):
        return low + (high - low) * self._u()

    def randint(self, n):
        return int(self._u() * n)

    def choice(self, seq, p=None):
        if p is None:
            return seq[int(self._u() * len(seq))]
        cdf = np.cumsum(p)
        cdf = cdf / cdf[-1]
        return seq[int(np.searchsorted(cdf, self._u(), side='right'))]

    def permutation(self, n):
        perm = list(range(n))
        for i in range(n - 1, 0, -1):
            j = int(self._u() * (i + 1))
            perm[i], perm[j] = perm[j], perm[i]
        return np.array(perm)


def image():
    y, x, c = np.meshgrid(np.arange(90), np.arange(120), np.arange(3), indexing='ij')
    return ((3 * x + 5 * y + 40 * c + (x * y) % 7) % 256).astype(np.uint8)


def results():
    img = image()
    return dict(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=['img'],
                gt_bboxes=np.array([[10, 12, 50, 70], [60, 20, 110, 80], [30, 40, 45, 55]], dtype=np.float32),
                gt_labels=np.array([0, 1, 2], dtype=np.int64), gt_bboxes_ignore=np.zeros((0, 4), dtype=np.float32),
                bbox_fields=['gt_bboxes_ignore', 'gt_bboxes'], mask_fields=[], seg_fields=[])


def run(transforms, seed):
    scripted = Scripted(seed)
    saved_random, saved_choice = T.random, np.random.choice
    T.random, np.random.choice = scripted, scripted.choice
    try:
        out = Compose(transforms)(results())
    finally:
        T.random, np.random.choice = saved_random, saved_choice
    img = out['img']
    h, w = img.shape[:2]
    ys = np.linspace(0, h - 1, 6).astype(int)
    xs = np.linspace(0, w - 1, 6).astype(int)
    return dict(
        draws=scripted.log,
        result=dict(
            img_shape=list(img.shape), dtype=str(img.dtype),
            channel_sums=[float(img[..., k].astype(np.float64).sum()) for k in range(3)],
            pixels=[[int(y), int(x)] + [float(v) for v in img[y, x]] for y in ys for x in xs],
            gt_bboxes=out['gt_bboxes'].tolist(), gt_labels=out['gt_labels'].tolist(),
            flip=out.get('flip')))


def main(out):
    cases = {}
    for seed in range(4):
        cases[f'Expand seed {seed}'] = dict(transforms=[SSD_TRAIN[0]], **run([SSD_TRAIN[0]], seed))
    for seed in range(6):
        cases[f'MinIoURandomCrop seed {seed}'] = dict(transforms=[SSD_TRAIN[1]], **run([SSD_TRAIN[1]], seed))
    for seed in range(4):
        cases[f'PhotoMetricDistortion seed {seed}'] = dict(transforms=[SSD_TRAIN[4]], **run([SSD_TRAIN[4]], seed))
    for seed in range(6):
        cases[f'SSD300 train pipeline seed {seed}'] = dict(transforms=SSD_TRAIN, **run(SSD_TRAIN, 100 + seed))
    with open(out, 'w') as f:
        json.dump(dict(cases=cases), f, indent=1)
    for name, c in cases.items():
        print(name, len(c['draws']), c['result']['img_shape'], len(c['result']['gt_labels']))


if __name__ == '__main__':
    main(sys.argv[1])
