"""Makes tests/fixtures/mmdet-2.28/yolox/: a slim YOLOX built by MMDetection 2.28.2 with fixed weights, its head outputs
and detections on one balloon val image, and its training losses (SimOTA assignment included) on two balloon train
images, with use_l1 off and on.

Our own script; it imports mmdet/mmcv from the local MMDetection reference at /work/oracle (../shared/docs/oracle.md,
through /work/oracle/oracle_env.py, which maps mmcv's nms to torchvision's CPU kernel; by way of dense_heads.py) and
runs with Debian's python; not part of the build or the tests. Records are in tools/oracle/dense_heads.py's format.
Usage: /usr/bin/python3 tools/oracle/yolox.py OUT_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dense_heads as dh  # noqa: E402  (imports oracle_env first)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.parallel import collate  # noqa: E402
from mmcv.runner import save_checkpoint  # noqa: E402
from mmdet.datasets import build_dataset  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

CONFIG = 'yolox/yolox_tiny_8x8_300e_coco.py'
SCALE = (416, 416)
NAME = 'yolox'


def slim(cfg):
    """deepen 0.33, widen 0.125 (stem 8 channels, stages 16..128), a 32-channel neck and head, 3 classes."""
    m = cfg.model
    m.backbone.update(deepen_factor=0.33, widen_factor=0.125, init_cfg=None)
    m.neck.update(in_channels=[32, 64, 128], out_channels=32)
    m.bbox_head.update(in_channels=32, feat_channels=32, num_classes=3)
    return cfg


def randomize(model):
    """dense_heads.randomize's BatchNorm statistics and affine parameters (it knows no YOLOX head layer), then the
    predictors of every level from torch.Generator().manual_seed(3): conv_cls weights randn·0.3 and biases randn·0.5 − 1,
    conv_obj weights randn·0.3 and biases randn·0.5 − 3 (MMDetection's 1 % priors would leave no score above score_thr,
    and these spread the scores), conv_reg weights randn·0.02 and biases randn·0.1 + (0, 0, 2, 2) (boxes about 7 strides
    wide, so that they overlap the balloons and SimOTA's dynamic k exceeds 1)."""
    dh.randomize(model, predictor_std=0.05)
    g = torch.Generator().manual_seed(3)
    head = model.bbox_head
    for cls, reg, obj in zip(head.multi_level_conv_cls, head.multi_level_conv_reg, head.multi_level_conv_obj):
        for conv, shift in ((cls, -1.0), (obj, -3.0)):
            conv.weight.data.copy_(torch.randn(conv.weight.shape, generator=g) * 0.3)
            conv.bias.data.copy_(torch.randn(conv.bias.shape, generator=g) * 0.5 + shift)
        reg.weight.data.copy_(torch.randn(reg.weight.shape, generator=g) * 0.02)
        reg.bias.data.copy_(torch.randn(reg.bias.shape, generator=g) * 0.1 + torch.tensor([0.0, 0.0, 2.0, 2.0]))


def test_input():
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=SCALE, flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **dh.NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=dh.TEST_IMAGE), img_prefix=f'{dh.DATA}/val/'))], samples_per_gpu=1)
    return data['img'][0], data['img_metas'][0].data[0]


def calibrate(model, img):
    """BatchNorm running statistics set to the test image's own statistics (one training-mode forward with a cumulative
    average), then the momentum restored: with random statistics the features barely depend on the input and many
    detections would tie in score, leaving their order (and NMS's choice among them) to the sort's tie-breaking."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model.extract_feat(img)
    for m in bns:
        m.momentum = 0.03
    model.eval()


def test_record(model):
    img, metas = test_input()
    m = metas[0]
    rec = dict(file_name=dh.TEST_IMAGE, img_shape=list(m['img_shape']), pad_shape=list(m['pad_shape']),
               scale_factor=[dh.f(v) for v in m['scale_factor']], input_shape=list(img.shape),
               input_channel_sums=img[0].double().sum(dim=(1, 2)).tolist())
    with torch.no_grad():
        feats = model.extract_feat(img)
        outs = model.bbox_head(feats)
        rec['head_outputs'] = {k: [dh.describe(t) for t in level] for k, level in zip(['cls_scores', 'bbox_preds', 'objectnesses'], outs)}
        for key, rescale in (('detections_unscaled', False), ('detections', True)):
            dets, labels = model.bbox_head.get_bboxes(*outs, img_metas=metas, rescale=rescale)[0]
            rec[key] = dh.rows(torch.cat([dets, labels[:, None].float()], 1))
    return rec


def train_record(model, use_l1):
    ds = build_dataset(dict(type='CocoDataset', classes=('balloon',), ann_file=f'{dh.DATA}/train/annotation_coco.json',
                            img_prefix=f'{dh.DATA}/train/', pipeline=[
                                dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                                dict(type='Resize', img_scale=SCALE, keep_ratio=True),
                                dict(type='RandomFlip', flip_ratio=0.0), dict(type='Normalize', **dh.NORM),
                                dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
                                dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]))
    data = collate([ds[0], ds[1]], samples_per_gpu=2)
    img = data['img'].data[0]
    metas = data['img_metas'].data[0]
    gt_bboxes = data['gt_bboxes'].data[0]
    gt_labels = data['gt_labels'].data[0]
    gt_copy = [b.clone() for b in gt_bboxes]
    # Record SimOTA's assignment of each image (positives and their GT), as the head computes it inside loss().
    assigner = model.bbox_head.assigner
    assigned = []
    original = assigner.assign

    def recording(*args, **kwargs):
        r = original(*args, **kwargs)
        pos = torch.nonzero(r.gt_inds > 0).view(-1)
        assigned.append(dict(pos_inds=pos.tolist(), pos_gt=(r.gt_inds[pos] - 1).tolist(),
                             pos_ious=[dh.f(v) for v in r.max_overlaps[pos]]))
        return r

    assigner.assign = recording
    model.train()
    model.bbox_head.use_l1 = use_l1
    losses = model.forward_train(img, metas, gt_bboxes, gt_labels)
    assigner.assign = original
    model.bbox_head.use_l1 = False
    _, log_vars = model._parse_losses(losses)
    raw = {k: ([float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)) for k, v in losses.items()}
    return dict(use_l1=use_l1, images=[m['ori_filename'] for m in metas], batch_input_shape=list(img.shape),
                gt_bboxes=[dh.rows(b) for b in gt_copy], assignment=assigned,
                log_vars={k: float(v) for k, v in log_vars.items()}, raw_losses=raw)


def make(out):
    cfg = slim(Config.fromfile(f'{dh.ZOO}/{CONFIG}'))
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    randomize(model)
    calibrate(model, test_input()[0])
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{NAME}.pth')
    with open(f'{out}/{NAME}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model)).pretty_text)
    test = test_record(model)
    train = [train_record(model, False), train_record(model, True)]
    model.eval()
    result = dict(config=CONFIG, test=[test], train=train)
    with open(f'{out}/{NAME}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    print(NAME, 'detections', len(test['detections']), 'scores', [r[4] for r in test['detections'][:5]], '...',
          [r[4] for r in test['detections'][-3:]], 'positives', [len(a['pos_inds']) for a in train[0]['assignment']],
          'losses', train[0]['log_vars'], train[1]['log_vars'])


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    make(out)
