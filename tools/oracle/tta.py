"""Makes tests/fixtures/mmdet-2.28/tta/: slim detectors built by MMDetection 2.28.2 with fixed weights and their
test-time augmentation (aug_test) on one balloon val image, MultiScaleFlipAug with two scales and flip=True:
Mask R-CNN, Cascade Mask R-CNN and HTC (TwoStageDetector.aug_test: the merged RPN proposals (aug_test_rpn), the final
boxes, scores and labels and every mask's area) and RetinaNet and FCOS (SingleStageDetector.aug_test: the dense head's
aug_test_bboxes; boxes, scores and labels).

Our own script (not MMDetection's). Runs on the local MMDetection reference of ../shared/docs/oracle.md (sources at
/work/oracle, imported through /work/oracle/oracle_env.py, which maps mmcv's nms / roi_align to torchvision's CPU
kernels); not part of the build or the tests.
Usage: /usr/bin/python3 tools/oracle/tta.py OUT_DIR [MODEL ...]   (MODEL: names of MODELS below; all by default)
"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must precede mmcv)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.parallel import collate  # noqa: E402
from mmcv.runner import save_checkpoint  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

ZOO = '/work/shared/mmdet-configs-2.28'
DATA = '/work/shared/datasets/balloon'
TEST_IMAGE = '24631331976_defa3bb61f_k.jpg'
SCALES = [(512, 320), (640, 400)]
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# Fixture name -> zoo config.
MODELS = {
    'mask_rcnn_tta': 'mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py',
    'cascade_mask_rcnn_tta': 'cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py',
    'htc_tta': 'htc/htc_r50_fpn_1x_coco.py',
    'retinanet_tta': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos_tta': 'fcos/fcos_r50_caffe_fpn_gn-head_1x_coco.py',
}


def per_stage(head):
    """A cascade's per-stage list of head dicts, or the one dict of a single-stage RoI head."""
    return head if isinstance(head, list) else [head]


def slim(cfg):
    """R-18 with 8 base channels, 32-channel FPN; two-stage: RPN and RoI heads (fc 32), semantic branch (HTC) 32 channels,
    100 test proposals per view; one-stage: a 32-channel head; 3 classes."""
    m = cfg.model
    m.backbone.update(depth=18, base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[8, 16, 32, 64], out_channels=32)
    if 'bbox_head' in m:
        m.bbox_head.update(in_channels=32, feat_channels=32, num_classes=3)
        return cfg
    m.rpn_head.update(in_channels=32, feat_channels=32)
    rh = m.roi_head
    rh.bbox_roi_extractor.update(out_channels=32)
    rh.mask_roi_extractor.update(out_channels=32)
    for h in per_stage(rh.bbox_head):
        h.update(in_channels=32, fc_out_channels=32, num_classes=3)
    for h in per_stage(rh.mask_head):
        h.update(in_channels=32, conv_out_channels=32, num_classes=3)
    if rh.get('semantic_head') is not None:
        rh.semantic_roi_extractor.update(out_channels=32)
        rh.semantic_head.update(in_channels=32, conv_out_channels=32)
    m.test_cfg.rpn.update(nms_pre=500, max_per_img=100)
    return cfg


def randomize(model):
    """BN affine and running statistics away from the identity, and the classifiers widened, so that scores spread
    out (MMDetection's N(0, 0.01) fc_cls gives nearly equal scores, and NMS over ties would compare nothing). A dense
    head's convolutions get N(0, 1/fan_in) weights (its N(0, 0.01) tower would leave every score at the prior's)."""
    g = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(1 + torch.rand(n, generator=g) * 0.5)
            mod.weight.data.copy_(1 + torch.randn(n, generator=g) * 0.1)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    if hasattr(model, 'roi_head'):
        for name, p in model.roi_head.named_parameters():
            if 'fc_cls' in name and name.endswith('weight'):
                p.data.copy_(torch.randn(p.shape, generator=g) * 0.05)
            if 'fc_reg' in name and name.endswith('weight'):
                p.data.copy_(torch.randn(p.shape, generator=g) * 0.02)
    else:
        for name, p in model.bbox_head.named_parameters():
            if name.endswith('weight') and p.dim() == 4:
                p.data.copy_(torch.randn(p.shape, generator=g) / (p.shape[1] * p.shape[2] * p.shape[3]) ** 0.5)


def f(x):
    return float(f'{float(x):.9g}')


def rows(t):
    return [[f(v) for v in r] for r in t.reshape(t.shape[0], -1).tolist()]


def test_pipeline():
    return [
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=SCALES, flip=True, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])]


def test_record(model):
    data = collate([Compose(test_pipeline())(dict(img_info=dict(filename=TEST_IMAGE), img_prefix=f'{DATA}/val/'))], samples_per_gpu=1)
    imgs = data['img']
    metas = [m.data[0] for m in data['img_metas']]
    rec = dict(file_name=TEST_IMAGE, views=[dict(img_shape=list(m[0]['img_shape']), flip=m[0]['flip'],
                                                 scale_factor=[f(v) for v in m[0]['scale_factor']],
                                                 input_shape=list(i.shape)) for i, m in zip(imgs, metas)])
    with torch.no_grad():
        if hasattr(model, 'rpn_head'):
            feats = model.extract_feats(imgs)
            rec['merged_proposals'] = rows(model.rpn_head.aug_test_rpn(feats, metas)[0])
            bbox_results, segm_results = model.aug_test(imgs, metas, rescale=True)[0]
        else:
            bbox_results, segm_results = model.aug_test(imgs, metas, rescale=True)[0], None
    dets = []
    masks = []
    for c, cls_dets in enumerate(bbox_results):
        for k, d in enumerate(cls_dets):
            dets.append([f(v) for v in d] + [c])
            if segm_results is not None:
                masks.append(segm_results[c][k])
    # Per class, in MMDetection's order: x1, y1, x2, y2, score, label; every mask's area (pixel sum, original image).
    rec['detections'] = dets
    if segm_results is not None:
        rec['mask_areas'] = [int(s.sum()) for s in masks]
    return rec


def make(out, name):
    config = MODELS[name]
    cfg = slim(Config.fromfile(f'{ZOO}/{config}'))
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    randomize(model)
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{name}.pth')
    with open(f'{out}/{name}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model, data=dict(test=dict(pipeline=test_pipeline())))).pretty_text)
    result = dict(config=config, scales=[list(s) for s in SCALES], flip=True, test=test_record(model))
    with open(f'{out}/{name}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    t = result['test']
    print(name, 'views', len(t['views']), 'merged proposals', len(t.get('merged_proposals', [])), 'detections', len(t['detections']),
          'scores', [r[4] for r in t['detections'][:5]], 'labels', sorted({r[5] for r in t['detections']}),
          'mask areas', t.get('mask_areas', [])[:5])


def main(out, names):
    os.makedirs(out, exist_ok=True)
    for name in names or MODELS:
        make(out, name)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
