"""Makes tests/fixtures/mmdet-2.28/dense_heads/: slim one-stage detectors built by MMDetection 2.28.2 with fixed
weights, their outputs on one balloon val image and their training losses on two balloon train images.

Runs on the local MMDetection reference of ../shared/docs/oracle.md (sources at /work/oracle, imported through
/work/oracle/oracle_env.py, which maps mmcv's nms to torchvision's CPU kernel); not part of the build or the tests.
Usage: /usr/bin/python3 tools/oracle/dense_heads.py OUT_DIR [NAME...]
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
from mmdet.datasets import build_dataset  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

ZOO = '/work/shared/mmdet-configs-2.28'
DATA = '/work/shared/datasets/balloon'
TEST_IMAGE = '24631331976_defa3bb61f_k.jpg'
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
SAMPLES = 32


def slim(cfg):
    """R-18 with 8 base channels, a 32-channel FPN and head, 3 classes, no pretrained weights."""
    m = cfg.model
    m.backbone.update(depth=18, base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[8, 16, 32, 64], out_channels=32)
    m.bbox_head.update(in_channels=32, feat_channels=32, num_classes=3)
    return cfg


# name -> (zoo config, what the fixture adds to the slim model)
MODELS = {
    'retinanet': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos': 'fcos/fcos_r50_caffe_fpn_gn-head_1x_coco.py',
    'fcos_tricks': 'fcos/fcos_center-normbbox-centeronreg-giou_r50_caffe_fpn_gn-head_1x_coco.py',
}

# The un-normalised RetinaNet tower passes the FPN's scale on: a smaller predictor keeps its logits near ±2.
PREDICTOR_STD = {'retinanet': 0.01}


def randomize(model, predictor_std):
    """BN/GN affine and running statistics away from the identity; the head's tower convs Kaiming-normal and its
    classification predictor widened, so that scores spread out (MMDetection's N(0, 0.01) towers and focal prior give
    every position nearly the same score, and NMS over ties would compare nothing)."""
    g = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(1 + torch.rand(n, generator=g) * 0.5)
        if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            n = mod.weight.numel()
            mod.weight.data.copy_(1 + torch.randn(n, generator=g) * 0.1)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    for name, p in model.bbox_head.named_parameters():
        if name.split('.')[0] in ('cls_convs', 'reg_convs') and name.endswith('conv.weight'):
            p.data.copy_(torch.randn(p.shape, generator=g) * (2.0 / p[0].numel()) ** 0.5)
        if name.split('.')[0] in ('retina_cls', 'conv_cls') and name.endswith('weight'):
            p.data.copy_(torch.randn(p.shape, generator=g) * predictor_std)
        if name.split('.')[0] in ('retina_cls', 'conv_cls') and name.endswith('bias'):
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.5 - 2.0)


def f(x):
    return float(f'{float(x):.9g}')


def rows(t):
    return [[f(v) for v in r] for r in t.reshape(t.shape[0], -1).tolist()]


def describe(t):
    flat = t.reshape(-1).double()
    n = flat.numel()
    idx = [(i * (n - 1)) // (SAMPLES - 1) for i in range(SAMPLES)]
    return dict(shape=list(t.shape), sum=float(flat.sum()), abs_sum=float(flat.abs().sum()),
                samples=[[i, f(flat[i])] for i in idx])


def test_record(model, cfg):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=(1333, 800), flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=TEST_IMAGE), img_prefix=f'{DATA}/val/'))], samples_per_gpu=1)
    img = data['img'][0]
    metas = data['img_metas'][0].data[0]
    m = metas[0]
    rec = dict(file_name=TEST_IMAGE, img_shape=list(m['img_shape']), pad_shape=list(m['pad_shape']),
               scale_factor=[f(v) for v in m['scale_factor']], input_shape=list(img.shape),
               input_channel_sums=img[0].double().sum(dim=(1, 2)).tolist())
    with torch.no_grad():
        feats = model.extract_feat(img)
        outs = model.bbox_head(feats)
        names = ['cls_scores', 'bbox_preds', 'centernesses'][:len(outs)]
        rec['head_outputs'] = {k: [describe(t) for t in level] for k, level in zip(names, outs)}
        bboxes, scores, labels = model.bbox_head.get_bboxes(*outs, img_metas=metas, rescale=False, with_nms=False)[0]
        order = torch.argsort(scores, descending=True, stable=True)
        rec['pre_nms_count'] = int(scores.numel())
        rec['pre_nms_first100'] = rows(torch.cat([bboxes[order[:100]], scores[order[:100], None], labels[order[:100], None].float()], 1))
        dets, det_labels = model.bbox_head.simple_test(feats, metas, rescale=True)[0]
        rec['detections'] = rows(torch.cat([dets, det_labels[:, None].float()], 1))
    return rec


def train_record(model):
    ds = build_dataset(dict(type='CocoDataset', classes=('balloon',), ann_file=f'{DATA}/train/annotation_coco.json',
                            img_prefix=f'{DATA}/train/', pipeline=[
                                dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                                dict(type='Resize', img_scale=(1333, 800), keep_ratio=True),
                                dict(type='RandomFlip', flip_ratio=0.0), dict(type='Normalize', **NORM),
                                dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
                                dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]))
    data = collate([ds[0], ds[1]], samples_per_gpu=2)
    img = data['img'].data[0]
    metas = data['img_metas'].data[0]
    gt_bboxes = data['gt_bboxes'].data[0]
    gt_labels = data['gt_labels'].data[0]
    model.train()
    torch.manual_seed(0)
    losses = model.forward_train(img, metas, gt_bboxes, gt_labels)
    _, log_vars = model._parse_losses(losses)
    raw = {k: ([float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)) for k, v in losses.items()}
    return dict(images=[m['ori_filename'] for m in metas], batch_input_shape=list(img.shape),
                gt_bboxes=[rows(b) for b in gt_bboxes], log_vars={k: float(v) for k, v in log_vars.items()}, raw_losses=raw)


def make(name, out):
    cfg = slim(Config.fromfile(f'{ZOO}/{MODELS[name]}'))
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    randomize(model, predictor_std=PREDICTOR_STD.get(name, 0.05))
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{name}.pth')
    with open(f'{out}/{name}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model)).pretty_text)
    result = dict(config=MODELS[name], test=[test_record(model, cfg)], train=train_record(model))
    with open(f'{out}/{name}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    t = result['test'][0]
    print(name, 'pre-NMS', t['pre_nms_count'], 'detections', len(t['detections']),
          'scores', [r[4] for r in t['detections'][:5]], '...', [r[4] for r in t['detections'][-3:]],
          'losses', result['train']['log_vars'])


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or MODELS:
        make(name, out)
