#!/usr/bin/python3
"""YOLOX's data pipeline in MMDetection 2.28.2 (the local oracle at /work/oracle; this script imports mmdet from there
and is not part of DetSharp's runtime), with the random draws recorded so that DetSharp's test replays them.
Writes tests/fixtures/mmdet-2.28/yolox_transforms/cases.json and one PNG per case (the output image, lossless).

Input: ../shared/datasets/coco_mini train2017 through MMDetection's CocoDataset (LoadImageFromFile,
LoadAnnotations(with_bbox=True), filter_empty_gt=False), wrapped in MultiImageMixDataset with each case's pipeline;
each case takes dataset[index].

Every random call is replaced, on the numpy.random module itself (transforms.py's `random` is that module), by one that
takes u from a seeded RandomState and records it: uniform(low, high[, size]) = low + (high - low) * u per value,
randint(low, high[, size]) = low + int(u * (high - low)) per value, choice(seq, p) = seq[first index whose normalised
cumulative p exceeds u]. DetSharp's transforms draw the same way from System.Random (NextDouble() = u,
Next(a, b) = a + int(u * (b - a))).

Usage: /usr/bin/python3 tools/oracle/yolox_transforms.py OUT_DIR
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from mmdet.datasets import build_dataset  # noqa: E402

COCO = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'datasets', 'coco_mini'))
if not os.path.isdir(COCO):
    COCO = '/work/shared/datasets/coco_mini'

SMALL = dict(type='Resize', img_scale=(160, 120), keep_ratio=True)


def yolox_train(img_scale):
    """configs/yolox/yolox_s_8x8_300e_coco.py's train_pipeline at another img_scale (h, w), without the formatting."""
    return [
        dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
        dict(type='RandomAffine', scaling_ratio_range=(0.1, 2), border=(-img_scale[0] // 2, -img_scale[1] // 2)),
        dict(type='MixUp', img_scale=img_scale, ratio_range=(0.8, 1.6), pad_val=114.0),
        dict(type='YOLOXHSVRandomAug'),
        dict(type='RandomFlip', flip_ratio=0.5),
        dict(type='Resize', img_scale=img_scale, keep_ratio=True),
        dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    ]


CASES = {
    # the first image of 'Mosaic filter prob' is made small so that a skipped Mosaic (prob) leaves a small image
    'Mosaic': (dict(pipeline=[dict(type='Mosaic', img_scale=(64, 80))]), [(0, 0), (1, 5), (2, 17), (3, 42)]),
    'Mosaic filter prob': (dict(pipeline=[SMALL, dict(type='Mosaic', img_scale=(64, 80), center_ratio_range=(0.7, 1.3),
                                               min_bbox_size=6, skip_filter=False, pad_val=50, prob=0.85,
                                               bbox_clip_border=False)]),
                           [(10, 3), (11, 8), (12, 30), (13, 64)]),
    'RandomAffine': (dict(pipeline=[SMALL, dict(type='RandomAffine')]), [(20, 1), (21, 9), (22, 33)]),
    'RandomAffine filter border': (dict(pipeline=[SMALL, dict(
        type='RandomAffine', max_rotate_degree=30, max_translate_ratio=0.3, scaling_ratio_range=(0.3, 1.2),
        max_shear_degree=10, border=(-10, -20), border_val=(10, 20, 30), min_bbox_size=4, min_area_ratio=0.3,
        max_aspect_ratio=6, skip_filter=False)]), [(30, 2), (31, 11), (32, 45), (33, 70)]),
    'RandomAffine no clip': (dict(pipeline=[SMALL, dict(type='RandomAffine', max_rotate_degree=20,
                                                        bbox_clip_border=False, border=(8, 4))]),
                             [(34, 6), (35, 27)]),
    'MixUp': (dict(pipeline=[SMALL, dict(type='MixUp', img_scale=(96, 128), ratio_range=(0.8, 1.6))]),
              [(40, 4), (41, 12), (42, 51), (43, 77)]),
    'MixUp filter': (dict(pipeline=[SMALL, dict(type='MixUp', img_scale=(120, 100), ratio_range=(0.5, 2.0),
                                                flip_ratio=0.8, pad_val=30, max_iters=3, min_bbox_size=3,
                                                min_area_ratio=0.3, max_aspect_ratio=8, skip_filter=False,
                                                bbox_clip_border=False)]),
                     [(50, 7), (51, 19), (52, 60), (53, 25), (54, 74)]),
    'YOLOXHSVRandomAug': (dict(pipeline=[SMALL, dict(type='YOLOXHSVRandomAug')]), [(60, 0), (61, 14), (62, 38)]),
    'YOLOXHSVRandomAug deltas': (dict(pipeline=[SMALL, dict(type='YOLOXHSVRandomAug', hue_delta=40,
                                                            saturation_delta=90, value_delta=70)]),
                                 [(63, 23), (64, 56)]),
    'Resize keep_ratio + Pad to square': (dict(pipeline=[
        dict(type='Resize', img_scale=(128, 128), keep_ratio=True),
        dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 50.0, 200.0)))]), [(70, 2), (71, 31)]),
    'FilterAnnotations': (dict(pipeline=[SMALL, dict(type='FilterAnnotations', min_gt_bbox_wh=(8, 6),
                                                     keep_empty=False)]), [(80, 10), (81, 44), (82, 66)]),
    'YOLOX-s train pipeline': (dict(pipeline=yolox_train((64, 80))), [(90, 0), (91, 13), (92, 29), (93, 48),
                                                                     (94, 71)]),
    'YOLOX-s train pipeline, Mosaic and MixUp skipped': (
        dict(pipeline=yolox_train((64, 80)), skip_type_keys=['Mosaic', 'RandomAffine', 'MixUp']),
        [(95, 3), (96, 36)]),
}


class Scripted:
    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.log = []

    def _u(self):
        u = float(self.rs.random_sample())
        self.log.append(u)
        return u

    def uniform(self, low=0.0, high=1.0, size=None):
        if size is None:
            return low + (high - low) * self._u()
        return np.array([low + (high - low) * self._u() for _ in range(size)])

    def randint(self, low, high=None, size=None):
        if high is None:
            low, high = 0, low
        if size is None:
            return low + int(self._u() * (high - low))
        return np.array([low + int(self._u() * (high - low)) for _ in range(size)])

    def choice(self, seq, p=None):
        if p is None:
            return seq[int(self._u() * len(seq))]
        cdf = np.cumsum(p)
        cdf = cdf / cdf[-1]
        return seq[int(np.searchsorted(cdf, self._u(), side='right'))]


def dataset(wrapper):
    inner = dict(type='CocoDataset', ann_file=COCO + '/annotations/instances_train2017.json',
                 img_prefix=COCO + '/train2017/', filter_empty_gt=False,
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)])
    return build_dataset(dict(type='MultiImageMixDataset', dataset=inner, **wrapper))


def run(ds, index, seed):
    scripted = Scripted(seed)
    saved = np.random.uniform, np.random.randint, np.random.choice
    np.random.uniform, np.random.randint, np.random.choice = scripted.uniform, scripted.randint, scripted.choice
    try:
        out = ds[index]
    finally:
        np.random.uniform, np.random.randint, np.random.choice = saved
    return scripted.log, out


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = {}
    for name, (wrapper, runs) in CASES.items():
        ds = dataset(wrapper)
        for seed, index in runs:
            draws, out = run(ds, index, seed)
            img = out['img']
            png = f"{name.replace(' ', '_').replace(',', '').replace('+', 'and')}_{seed}.png"
            cv2.imwrite(os.path.join(out_dir, png), img)
            cases[f'{name} seed {seed}'] = dict(
                pipeline=wrapper['pipeline'], skip_type_keys=wrapper.get('skip_type_keys'), index=index,
                draws=draws,
                result=dict(img_shape=list(img.shape), dtype=str(img.dtype), png=png,
                            md5=hashlib.md5(np.ascontiguousarray(img).tobytes()).hexdigest(),
                            pad_shape=list(out['pad_shape']) if 'pad_shape' in out else None,
                            scale_factor=[float(v) for v in out['scale_factor']] if 'scale_factor' in out else None,
                            gt_bboxes=out['gt_bboxes'].astype(np.float64).tolist(),
                            gt_labels=out['gt_labels'].tolist(), flip=out.get('flip')))
            print(f'{name} seed {seed}: index {index}, {len(draws)} draws, {list(img.shape)}, '
                  f"{len(out['gt_labels'])} boxes")
    with open(os.path.join(out_dir, 'cases.json'), 'w') as f:
        json.dump(dict(cases=cases), f, indent=1)


if __name__ == '__main__':
    main(sys.argv[1])
