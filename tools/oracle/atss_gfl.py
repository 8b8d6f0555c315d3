"""Makes the ATSS and GFL parity fixtures (tests/fixtures/mmdet-2.28/{atss,gfl}/) with the real MMDetection 2.28.2.

Our own script; it imports mmdet/mmcv from the local oracle at /work/oracle (see ../shared/docs/oracle.md) and runs
with Debian's python:  /usr/bin/python3 tools/oracle/atss_gfl.py
For each head config (atss/atss_head_slim.py, gfl/gfl_head_slim.py) it builds the head, initialises it (its init_cfg)
under torch.manual_seed(0), then perturbs every parameter (so that scores spread above score_thr and the boxes move),
draws a fixed batch of FPN-like features, and saves in <family>/<name>.pth one flat dict of tensors:
  state_dict.*          the head's weights (and the Integral's buffer)
  feats.L               input features per level, [2, 32, H, W] for a 128×160 batch (strides 8..128)
  gt_bboxes.I, gt_labels.I   the GT of image I; img_shape.I, pad_shape, scale_factor
  out.cls.L, out.reg.L (out.ctr.L for ATSS)   forward outputs in training mode
  assign.gt_inds.I      ATSSAssigner's assigned_gt_inds over image I's anchors (all levels)
  loss.<name>.L         every per-level loss of head.loss
  grad.feats.L          the gradient of the sum of all those losses with respect to feats.L
  det.bboxes.I, det.labels.I   head.get_bboxes(..., rescale=True) in eval mode
"""
import sys
sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: F401  (must come first: stubs mmcv's compiled ops)
import logging
import os

import torch
from mmcv import Config
from mmdet.models import build_head

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'fixtures', 'mmdet-2.28')
IMG_H, IMG_W = 128, 160
GT = [
    (torch.tensor([[10., 12., 70., 80.], [60., 40., 150., 120.], [20., 70., 60., 110.]]), torch.tensor([0, 2, 1])),
    (torch.tensor([[5., 5., 100., 90.], [80., 30., 140., 110.], [8., 6., 146., 118.]]), torch.tensor([1, 0, 2])),
]
METAS = [
    dict(img_shape=(128, 160, 3), pad_shape=(128, 160, 3), ori_shape=(64, 80, 3),
         scale_factor=torch.tensor([2., 2., 2., 2.]).numpy()),
    dict(img_shape=(120, 150, 3), pad_shape=(128, 160, 3), ori_shape=(80, 100, 3),
         scale_factor=torch.tensor([1.5, 1.5, 1.5, 1.5]).numpy()),
]


def perturb(head):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if name.endswith('scale'):
                p.copy_(1 + 0.2 * torch.rand((), generator=g))
            elif p.dim() > 1:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
            elif 'gn' in name or '.norm' in name or 'bn' in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith('_cls.bias'):
                p.copy_(-1.5 + 0.5 * torch.randn(p.shape, generator=g))
            else:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def make(family, name):
    logging.getLogger('mmcv').setLevel(logging.ERROR)
    cfg = Config.fromfile(os.path.join(ROOT, family, name + '.py'))
    head_cfg = cfg.bbox_head.copy()
    head_cfg.update(train_cfg=cfg.train_cfg, test_cfg=cfg.test_cfg)
    torch.manual_seed(0)
    head = build_head(head_cfg)
    head.init_weights()
    perturb(head)
    g = torch.Generator().manual_seed(2)
    sizes = [(IMG_H // s, IMG_W // s) for s in (8, 16, 32)] + [(2, 3), (1, 2)]
    feats = [torch.randn((2, 32, h, w), generator=g) for h, w in sizes]
    out = {}
    for k, v in head.state_dict().items():
        out['state_dict.' + k] = v.clone()
    for l, f in enumerate(feats):
        out[f'feats.{l}'] = f.clone()
    for i, (b, lab) in enumerate(GT):
        out[f'gt_bboxes.{i}'] = b
        out[f'gt_labels.{i}'] = lab
        out[f'img_shape.{i}'] = torch.tensor(METAS[i]['img_shape'][:2])
        out[f'scale_factor.{i}'] = torch.tensor(METAS[i]['scale_factor'])
    out['pad_shape'] = torch.tensor([IMG_H, IMG_W])

    head.train()
    feats = [f.requires_grad_() for f in feats]
    outs = head(feats)
    names = ['cls', 'reg', 'ctr'][:len(outs)]
    for n, lv in zip(names, outs):
        for l, t in enumerate(lv):
            out[f'out.{n}.{l}'] = t.detach().clone()
    losses = head.loss(*outs, [b for b, _ in GT], [lab for _, lab in GT], METAS)
    for k, v in losses.items():
        for l, t in enumerate(v):
            out[f'loss.{k}.{l}'] = t.detach().clone().reshape(())
    total = sum(sum(v) for v in losses.values())
    total.backward()
    for l, f in enumerate(feats):
        out[f'grad.feats.{l}'] = f.grad.clone()
    feats = [f.detach() for f in feats]
    print(family, {k: [round(float(x), 6) for x in v] for k, v in losses.items()}, 'total', float(total))

    anchors, valid = head.get_anchors([f.shape[-2:] for f in feats], METAS, device='cpu')
    for i, (b, lab) in enumerate(GT):
        num_level = [a.size(0) for a in anchors[i]]
        res = head.assigner.assign(torch.cat(anchors[i]), num_level, b, None, lab)
        out[f'assign.gt_inds.{i}'] = res.gt_inds.clone()
        print('  image', i, 'positives', int((res.gt_inds > 0).sum()))

    head.eval()
    with torch.no_grad():
        outs = head(feats)
        dets = head.get_bboxes(*outs, img_metas=METAS, rescale=True)
    for i, (bb, lab) in enumerate(dets):
        out[f'det.bboxes.{i}'] = bb.clone()
        out[f'det.labels.{i}'] = lab.clone()
        print('  image', i, 'detections', bb.shape[0])
    torch.save(out, os.path.join(ROOT, family, name + '.pth'))


make('atss', 'atss_head_slim')
make('gfl', 'gfl_head_slim')
