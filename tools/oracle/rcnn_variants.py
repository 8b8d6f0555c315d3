"""Makes tests/fixtures/mmdet-2.28/rcnn_variants/: slim two-stage variants built by MMDetection 2.28.2 with fixed
weights — Mask Scoring R-CNN's simple_test on one balloon val image (boxes, scores, mask scores), and Faster R-CNN
with OHEM's training losses on two balloon train images (RPN sampling made deterministic).

Our own script, not MMDetection's: it imports MMDetection 2.28.2 + mmcv 1.7.1 from the local reference at
/work/oracle (through /work/oracle/oracle_env.py, which maps mmcv's nms and roi_align to torchvision's CPU kernels;
see ../shared/docs/oracle.md); not part of the build or the tests.
Usage: /usr/bin/python3 tools/oracle/rcnn_variants.py OUT_DIR [NAME...]   (from the repository root)
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


def slim(cfg):
    """R-50 layout with 8 base channels (stages 32/64/128/256 wide), a 16-channel FPN, RPN and RoI heads, 3 classes."""
    m = cfg.model
    m.backbone.update(base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[32, 64, 128, 256], out_channels=16)
    m.rpn_head.update(in_channels=16, feat_channels=16)
    r = m.roi_head
    r.bbox_roi_extractor.update(out_channels=16)
    r.bbox_head.update(in_channels=16, fc_out_channels=32, num_classes=3)
    if 'mask_head' in r:
        r.mask_roi_extractor.update(out_channels=16)
        r.mask_head.update(in_channels=16, conv_out_channels=16, num_classes=3)
    if 'mask_iou_head' in r:
        r.mask_iou_head.update(in_channels=16, conv_out_channels=16, fc_out_channels=32, num_classes=3)
    return cfg


def deterministic_rpn(cfg):
    """The RPN's RandomSampler draws at random only when it has more candidates than it keeps: with num = 10^7 it keeps
    every positive and negative anchor, in index order, so the RPN losses and the proposals depend on the weights only."""
    cfg.model.train_cfg.rpn.sampler.update(num=10_000_000, pos_fraction=0.5)
    return cfg


# name -> zoo config, what else the fixture changes
MODELS = {
    'ms_rcnn': ('ms_rcnn/ms_rcnn_r50_fpn_1x_coco.py', lambda c: c),
    'faster_rcnn_ohem': ('faster_rcnn/faster_rcnn_r50_fpn_ohem_1x_coco.py', deterministic_rpn),
}


def randomize(model):
    """BN statistics and affine away from the identity; the RPN conv and classifier and the RoI classifier widened
    (MMDetection's N(0, 0.01) predictors give every anchor and RoI nearly the same score, and NMS or OHEM's top-k
    over near-ties would compare nothing); the mask IoU predictor widened so that mask scores differ."""
    g = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(1 + torch.rand(n, generator=g) * 0.5)
            mod.weight.data.copy_(1 + torch.randn(n, generator=g) * 0.1)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    # stds chosen for logits of std ~1.5-2 and deltas of std ~0.3 on these features (FPN maps of std ~15)
    widen = {'rpn_head.rpn_conv.weight': None, 'rpn_head.rpn_cls.weight': 0.08, 'rpn_head.rpn_reg.weight': 0.01,
             'roi_head.bbox_head.fc_cls.weight': 0.025, 'roi_head.bbox_head.fc_reg.weight': 0.005,
             'roi_head.mask_iou_head.fc_mask_iou.weight': 0.03}
    for name, p in model.named_parameters():
        if name in widen:
            std = widen[name] if widen[name] is not None else (2.0 / p[0].numel()) ** 0.5
            p.data.copy_(torch.randn(p.shape, generator=g) * std)


def f(x):
    return float(f'{float(x):.9g}')


def rows(t):
    return [[f(v) for v in r] for r in t.reshape(t.shape[0], -1).tolist()]


def test_record(model):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=(1333, 800), flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=TEST_IMAGE), img_prefix=f'{DATA}/val/'))], samples_per_gpu=1)
    img = data['img'][0]
    metas = data['img_metas'][0].data[0]
    rec = dict(file_name=TEST_IMAGE, input_shape=list(img.shape))
    with torch.no_grad():
        x = model.extract_feat(img)
        proposals = model.rpn_head.simple_test_rpn(x, metas)
        rec['proposal_count'] = int(proposals[0].shape[0])
        rec['proposals_first100'] = rows(proposals[0][:100])
        bbox_results, (segm_results, mask_scores) = model.roi_head.simple_test(x, proposals, metas, rescale=True)[0]
    # bbox2result's order: by class, within a class in NMS order; the mask scores in the same order
    dets, labels, scores = [], [], []
    for c, (b, s) in enumerate(zip(bbox_results, mask_scores)):
        dets += [list(map(f, r)) + [c] for r in b.tolist()]
        scores += [f(v) for v in np.asarray(s).tolist()]
        assert len(segm_results[c]) == len(b)
    rec['detections'] = dets
    rec['mask_scores'] = scores
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
    path, change = MODELS[name]
    cfg = change(slim(Config.fromfile(f'{ZOO}/{path}')))
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    randomize(model)
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{name}.pth')
    with open(f'{out}/{name}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model)).pretty_text)
    result = dict(config=path)
    if name == 'ms_rcnn':
        result['test'] = test_record(model)
        t = result['test']
        print(name, 'proposals', t['proposal_count'], 'detections', len(t['detections']),
              'scores', [r[4] for r in t['detections'][:5]], 'mask scores', t['mask_scores'][:5])
    else:
        result['train'] = train_record(model)
        print(name, 'losses', result['train']['log_vars'])
    with open(f'{out}/{name}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or MODELS:
        make(name, out)
