"""Makes tests/fixtures/mmdet-2.28/cascade_giou/: a slim Cascade R-CNN whose three bbox heads regress decoded boxes
with GIoULoss (reg_decoded_bbox=True, loss_weight 10, as faster_rcnn_r50_fpn_giou_1x_coco.py sets it), built by
MMDetection 2.28.2 with fixed weights: simple_test on one balloon val image (proposals, final boxes, scores) and
forward_train's losses on a batch of two balloon train images (every sampler keeps every candidate), both at a small scale.

Our own script, not MMDetection's: it imports MMDetection 2.28.2 + mmcv 1.7.1 from the local reference at
/work/oracle (through /work/oracle/oracle_env.py, which maps mmcv's nms and roi_align to torchvision's CPU kernels;
see ../shared/docs/oracle.md); not part of the build or the tests.
Usage: /usr/bin/python3 tools/oracle/cascade_giou.py OUT_DIR   (from the repository root)
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
CONFIG = 'cascade_rcnn/cascade_rcnn_r50_fpn_1x_coco.py'
NAME = 'cascade_giou'
DATA = '/work/shared/datasets/balloon'
TEST_IMAGE = '24631331976_defa3bb61f_k.jpg'
TRAIN_IMAGES = 2  # the first two images of the train annotations, one batch
SCALE = (512, 320)
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
ALL = 100000000  # sampler size that keeps every candidate: nothing random is drawn


def slim(cfg):
    """R-18 with 8 base channels, 32-channel FPN, RPN and RoI extractor, fc 64, 3 classes; every stage's bbox head
    regresses decoded boxes with GIoULoss(loss_weight=10); every sampler keeps all candidates; 300 training proposals
    (rpn_proposal) and 100 test proposals."""
    m = cfg.model
    m.backbone.update(depth=18, base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[8, 16, 32, 64], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    rh = m.roi_head
    rh.bbox_roi_extractor.update(out_channels=32)
    for h in rh.bbox_head:
        h.update(in_channels=32, fc_out_channels=64, num_classes=3, reg_decoded_bbox=True)
        h['loss_bbox'] = dict(type='GIoULoss', loss_weight=10.0)  # replaced, not merged into SmoothL1Loss's keys
    tc = m.train_cfg
    tc.rpn.sampler.num = ALL
    tc.rpn_proposal.update(nms_pre=1000, max_per_img=300)
    for r in tc.rcnn:
        r.sampler.num = ALL
    m.test_cfg.rpn.update(nms_pre=500, max_per_img=100)
    return cfg


def randomize(model):
    """BN affine and running statistics away from the identity, and each stage's classifier and regressor widened, so
    that scores spread out and the stages move the boxes (MMDetection's N(0, 0.01) fc_cls gives nearly equal scores,
    and NMS over ties would compare nothing)."""
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
    rec = dict(file_name=TEST_IMAGE, input_shape=list(img.shape))
    with torch.no_grad():
        x = model.extract_feat(img)
        proposals = model.rpn_head.simple_test_rpn(x, metas)
        rec['proposal_count'] = int(proposals[0].shape[0])
        rec['proposals_first100'] = rows(proposals[0][:100])
        bbox_results = model.simple_test(img, metas, rescale=True)[0]
    # bbox2result's order: by class, within a class in NMS order
    rec['detections'] = [list(map(f, r)) + [c] for c, b in enumerate(bbox_results) for r in b.tolist()]
    return rec


def train_record(model):
    ds = build_dataset(dict(type='CocoDataset', classes=('balloon',), ann_file=f'{DATA}/train/annotation_coco.json',
                            img_prefix=f'{DATA}/train/', pipeline=[
                                dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                                dict(type='Resize', img_scale=SCALE, keep_ratio=True),
                                dict(type='RandomFlip', flip_ratio=0.0), dict(type='Normalize', **NORM),
                                dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
                                dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]))
    data = collate([ds[i] for i in range(TRAIN_IMAGES)], samples_per_gpu=TRAIN_IMAGES)
    img = data['img'].data[0]
    metas = data['img_metas'].data[0]
    gt_bboxes = data['gt_bboxes'].data[0]
    gt_labels = data['gt_labels'].data[0]
    model.train()
    torch.manual_seed(0)
    losses = model.forward_train(img, metas, gt_bboxes, gt_labels)
    _, log_vars = model._parse_losses(losses)
    return dict(images=[m['ori_filename'] for m in metas], batch_input_shape=list(img.shape),
                gt_bboxes=[rows(b) for b in gt_bboxes], log_vars={k: float(v) for k, v in log_vars.items()})


def make(out):
    cfg = slim(Config.fromfile(f'{ZOO}/{CONFIG}'))
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    randomize(model)
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{NAME}.pth')
    with open(f'{out}/{NAME}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model)).pretty_text)
    result = dict(config=CONFIG, scale=list(SCALE), test=test_record(model), train=train_record(model))
    with open(f'{out}/{NAME}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    t = result['test']
    print(NAME, 'proposals', t['proposal_count'], 'detections', len(t['detections']),
          'scores', [r[4] for r in t['detections'][:5]], 'losses', result['train']['log_vars'])


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    make(out)
