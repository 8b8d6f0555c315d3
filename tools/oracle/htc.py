"""Makes tests/fixtures/mmdet-2.28/htc/: slim Hybrid Task Cascade models built by MMDetection 2.28.2 with fixed
weights, their outputs (proposals, per-stage bbox outputs, final boxes, scores and masks of simple_test) on one balloon
val image and their training losses on one balloon train image, both at a small scale.

Our own script (not MMDetection's). Runs on the local MMDetection reference of ../shared/docs/oracle.md (sources at
/work/oracle, imported through /work/oracle/oracle_env.py, which maps mmcv's nms / roi_align to torchvision's CPU
kernels); not part of the build or the tests.
Usage: /usr/bin/python3 tools/oracle/htc.py OUT_DIR [NAME...]
"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must precede mmcv)
import numpy as np  # noqa: E402
import pycocotools.mask as mask_util  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.parallel import collate  # noqa: E402
from mmcv.runner import save_checkpoint  # noqa: E402
from mmdet.core import bbox2roi  # noqa: E402
from mmdet.datasets import build_dataset  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

ZOO = '/work/shared/mmdet-configs-2.28'
DATA = '/work/shared/datasets/balloon'
TEST_IMAGE = '24631331976_defa3bb61f_k.jpg'
TRAIN_IMAGE_INDEX = 0
SCALE = (512, 320)
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
ALL = 100000000  # sampler size that keeps every candidate: nothing random is drawn
SEMANTIC_CLASSES = 4
MASKS_RLE = 10

# name -> zoo config; the semantic one keeps HTC's semantic branch (FusedSemanticHead).
MODELS = {
    'htc': 'htc/htc_without_semantic_r50_fpn_1x_coco.py',
    'htc_semantic': 'htc/htc_r50_fpn_1x_coco.py',
}


def slim(cfg):
    """R-18 with 8 base channels, 32-channel FPN, RPN and RoI heads (fc 32), 3 classes, every sampler keeping all
    candidates, 300 training proposals (rpn_proposal) and 100 test proposals."""
    m = cfg.model
    m.backbone.update(depth=18, base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[8, 16, 32, 64], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    rh = m.roi_head
    rh.bbox_roi_extractor.update(out_channels=32)
    rh.mask_roi_extractor.update(out_channels=32)
    for h in rh.bbox_head:
        h.update(in_channels=32, fc_out_channels=32, num_classes=3)
    for h in rh.mask_head:
        h.update(in_channels=32, conv_out_channels=32, num_classes=3)
    if rh.get('semantic_head') is not None:
        rh.semantic_roi_extractor.update(out_channels=32)
        rh.semantic_head.update(in_channels=32, conv_out_channels=32, num_classes=SEMANTIC_CLASSES)
    tc = m.train_cfg
    tc.rpn.sampler.num = ALL
    tc.rpn_proposal.update(nms_pre=1000, max_per_img=300)
    for r in tc.rcnn:
        r.sampler.num = ALL
    m.test_cfg.rpn.update(nms_pre=500, max_per_img=100)
    return cfg


def randomize(model):
    """BN affine and running statistics away from the identity, and the classifiers widened, so that scores spread
    out (MMDetection's N(0, 0.01) fc_cls gives nearly equal scores, and NMS over ties would compare nothing)."""
    g = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(1 + torch.rand(n, generator=g) * 0.5)
            mod.weight.data.copy_(1 + torch.randn(n, generator=g) * 0.1)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    for name, p in model.roi_head.named_parameters():
        if 'fc_cls' in name and name.endswith('weight'):
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.05)
        if 'fc_reg' in name and name.endswith('weight'):
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.02)


def f(x):
    return float(f'{float(x):.9g}')


def rows(t):
    return [[f(v) for v in r] for r in t.reshape(t.shape[0], -1).tolist()]


def test_record(model):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=SCALE, flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=TEST_IMAGE), img_prefix=f'{DATA}/val/'))], samples_per_gpu=1)
    img = data['img'][0]
    metas = data['img_metas'][0].data[0]
    m = metas[0]
    rec = dict(file_name=TEST_IMAGE, img_shape=list(m['img_shape']), pad_shape=list(m['pad_shape']),
               scale_factor=[f(v) for v in m['scale_factor']], input_shape=list(img.shape),
               input_channel_sums=img[0].double().sum(dim=(1, 2)).tolist())
    rh = model.roi_head
    with torch.no_grad():
        x = model.extract_feat(img)
        proposals = model.rpn_head.simple_test_rpn(x, metas)
        rec['proposals'] = rows(proposals[0])
        semantic_feat = rh.semantic_head(x)[1] if rh.with_semantic else None
        if semantic_feat is not None:
            rec['semantic_feat_sum'] = float(semantic_feat.double().sum())
        # Each stage's bbox branch on the RoIs it sees, as simple_test runs them.
        rois = bbox2roi(proposals)
        stages = []
        for i in range(rh.num_stages):
            res = rh._bbox_forward(i, x, rois, semantic_feat=semantic_feat)
            stages.append(dict(stage=i, rois_first20=rows(rois[:20]), cls_score_first20=rows(res['cls_score'][:20]),
                               bbox_pred_first20=rows(res['bbox_pred'][:20]),
                               cls_score_sum=float(res['cls_score'].double().sum()),
                               bbox_pred_sum=float(res['bbox_pred'].double().sum())))
            if i < rh.num_stages - 1:
                label = res['cls_score'][:, :-1].argmax(dim=1)
                rois = rh.bbox_head[i].regress_by_class(rois, label, res['bbox_pred'], metas[0])
        rec['roi_stages'] = stages
        bbox_results, segm_results = model.simple_test(img, metas, rescale=True)[0]
    dets = []
    masks = []
    for c, (cls_dets, cls_segms) in enumerate(zip(bbox_results, segm_results)):
        for d, s in zip(cls_dets, cls_segms):
            dets.append([f(v) for v in d] + [c])
            masks.append(s)
    # Per class, in MMDetection's order: x1, y1, x2, y2, score, label; every mask's area (its pixel sum) and the RLE
    # of the MASKS_RLE highest-scoring detections' masks.
    rec['detections'] = dets
    rec['mask_areas'] = [int(s.sum()) for s in masks]
    top = sorted(range(len(dets)), key=lambda i: -dets[i][4])[:MASKS_RLE]
    rec['mask_rles'] = {}
    for i in top:
        rle = mask_util.encode(np.asfortranarray(masks[i].astype(np.uint8)))
        rec['mask_rles'][str(i)] = dict(size=rle['size'], counts=rle['counts'].decode())
    return rec


def train_batch(with_seg):
    pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='Resize', img_scale=SCALE, keep_ratio=True), dict(type='RandomFlip', flip_ratio=0.0),
            dict(type='Normalize', **NORM), dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks'])]
    ds = build_dataset(dict(type='CocoDataset', classes=('balloon',), ann_file=f'{DATA}/train/annotation_coco.json',
                            img_prefix=f'{DATA}/train/', pipeline=pipe))
    data = collate([ds[TRAIN_IMAGE_INDEX]], samples_per_gpu=1)
    batch = dict(img=data['img'].data[0], img_metas=data['img_metas'].data[0], gt_bboxes=data['gt_bboxes'].data[0],
                 gt_labels=data['gt_labels'].data[0], gt_masks=data['gt_masks'].data[0])
    if with_seg:
        # A stuff map made from the batch itself (balloon has none): class 1 + instance index % 3 inside each
        # instance's mask, 0 elsewhere, 255 (ignored) in the padding; at 1/8 (SegRescale's nearest) as HTC trains.
        img = batch['img']
        h, w = batch['img_metas'][0]['img_shape'][:2]
        seg = torch.full(img.shape[-2:], 255, dtype=torch.uint8)
        seg[:h, :w] = 0
        for k, m in enumerate(batch['gt_masks'][0].masks):
            seg[torch.from_numpy(m[:img.shape[-2], :img.shape[-1]]).bool()] = 1 + k % (SEMANTIC_CLASSES - 1)
        seg = F.interpolate(seg[None, None].float(), scale_factor=1 / 8, mode='nearest').long()
        batch['gt_semantic_seg'] = seg
    return batch


def train_record(model, with_seg):
    b = train_batch(with_seg)
    model.train()
    torch.manual_seed(0)
    kwargs = dict(gt_semantic_seg=b['gt_semantic_seg']) if with_seg else {}
    losses = model.forward_train(b['img'], b['img_metas'], b['gt_bboxes'], b['gt_labels'], gt_masks=b['gt_masks'], **kwargs)
    _, log_vars = model._parse_losses(losses)
    rec = dict(images=[m['ori_filename'] for m in b['img_metas']], batch_input_shape=list(b['img'].shape),
               gt_bboxes=[rows(x) for x in b['gt_bboxes']], log_vars={k: float(v) for k, v in log_vars.items()})
    if with_seg:
        s = b['gt_semantic_seg']
        rec['gt_semantic_seg'] = dict(shape=list(s.shape), data=s.reshape(-1).tolist())
    return rec


def make(name, out):
    cfg = slim(Config.fromfile(f'{ZOO}/{MODELS[name]}'))
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
    with_seg = model.roi_head.with_semantic
    result = dict(config=MODELS[name], scale=list(SCALE), test=[test_record(model)], train=train_record(model, with_seg))
    with open(f'{out}/{name}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    t = result['test'][0]
    print(name, 'proposals', len(t['proposals']), 'detections', len(t['detections']),
          'scores', [r[4] for r in t['detections'][:5]], 'mask areas', t['mask_areas'][:5],
          'losses', result['train']['log_vars'])


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or MODELS:
        make(name, out)
