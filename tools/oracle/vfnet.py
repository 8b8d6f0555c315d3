"""Makes tests/fixtures/mmdet-2.28/vfnet/: slim VarifocalNets built by MMDetection 2.28.2 with fixed weights, their
outputs on one balloon val image and their training losses on two balloon train images, in the format of
tools/oracle/dense_heads.py (whose slimming, pipelines and records it reuses).

Our own script; it imports mmdet/mmcv from the local MMDetection reference at /work/oracle (../shared/docs/oracle.md,
through /work/oracle/oracle_env.py) and runs with Debian's python; not part of the build or the tests.
mmcv's deformable convolutions are not built there: this script replaces the forward of mmcv.ops' DeformConv2d and
ModulatedDeformConv2d (and so of their Pack subclasses' calls) with torchvision.ops.deform_conv2d, whose sampling
rule and offset/mask layout are mmcv's (tools/oracle/deform_conv.py, tests/fixtures/torchvision-0.14/deform_conv.json).
Usage: /usr/bin/python3 tools/oracle/vfnet.py OUT_DIR [NAME...]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dense_heads as dh  # noqa: E402  (imports oracle_env first)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.ops import deform_conv, modulated_deform_conv  # noqa: E402
from mmcv.runner import save_checkpoint  # noqa: E402
from mmdet.models import build_detector  # noqa: E402


def _deform_forward(self, x, offset):
    return torchvision.ops.deform_conv2d(x, offset, self.weight, None, stride=self.stride, padding=self.padding,
                                         dilation=self.dilation)


def _modulated_forward(self, x, offset, mask):
    return torchvision.ops.deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                         dilation=self.dilation, mask=mask)


def _modulated_pack_forward(self, x):
    out = self.conv_offset(x)
    o1, o2, mask = torch.chunk(out, 3, dim=1)
    return _modulated_forward(self, x, torch.cat((o1, o2), dim=1), torch.sigmoid(mask))


deform_conv.DeformConv2d.forward = _deform_forward
deform_conv.DeformConv2dPack.forward = lambda self, x: _deform_forward(self, x, self.conv_offset(x))
modulated_deform_conv.ModulatedDeformConv2d.forward = _modulated_forward
modulated_deform_conv.ModulatedDeformConv2dPack.forward = _modulated_pack_forward

CONFIG = 'vfnet/vfnet_r50_fpn_1x_coco.py'
# name -> what the fixture changes in the slimmed zoo head: the zoo's own head (ATSS targets, varifocal loss), and the
# other branches (FCOS targets with center sampling, focal loss, stride normalisation, a DCNv2 last tower conv).
VARIANTS = {
    'vfnet': {},
    'vfnet_fcos_targets': dict(use_atss=False, use_vfl=False, center_sampling=True, bbox_norm_type='stride',
                               dcn_on_last_conv=True),
}


def randomize(model):
    """dense_heads.randomize (norm statistics, tower convs), then the VFNet predictors, which it does not know: the
    classification conv widened with a low prior (scores spread out), the two box convs N(0, 0.02) (boxes differ),
    and a DCNv2's conv_offset N(0, 0.01) (its offsets and masks away from the regular grid)."""
    dh.randomize(model, predictor_std=0.05)
    g = torch.Generator().manual_seed(3)
    head = model.bbox_head
    head.vfnet_cls.weight.data.copy_(torch.randn(head.vfnet_cls.weight.shape, generator=g) * 0.05)
    head.vfnet_cls.bias.data.copy_(torch.randn(head.vfnet_cls.bias.shape, generator=g) * 0.5 - 2.0)
    for conv in (head.vfnet_reg, head.vfnet_reg_refine):
        conv.weight.data.copy_(torch.randn(conv.weight.shape, generator=g) * 0.02)
        conv.bias.data.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
    for name, p in head.named_parameters():  # a DCNv2 tower conv's offsets/masks, zero from its init
        if 'conv_offset' in name:
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.01)


def test_record(model, cfg):
    """dense_heads.test_record (eval forward: cls_scores and the refined bbox_preds), plus the first box distances
    (`bbox_preds_init`), the second of the head's three training-mode outputs, on the same features."""
    rec = dh.test_record(model, cfg)
    from mmcv.parallel import collate
    from mmdet.datasets.pipelines import Compose
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=(1333, 800), flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **dh.NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=dh.TEST_IMAGE), img_prefix=f'{dh.DATA}/val/'))], samples_per_gpu=1)
    with torch.no_grad():
        feats = model.extract_feat(data['img'][0])
        model.bbox_head.train()  # GN only: the training forward differs in what it returns, not in what it computes
        cls, init, refine = model.bbox_head(feats)
        model.bbox_head.eval()
    rec['head_outputs']['bbox_preds_init'] = [dh.describe(t) for t in init]
    assert all(dh.describe(t) == e for t, e in zip(refine, rec['head_outputs']['bbox_preds']))
    return rec


def make(name, out):
    cfg = dh.slim(Config.fromfile(f'{dh.ZOO}/{CONFIG}'))
    cfg.model.bbox_head.update(VARIANTS[name])
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
    result = dict(config=CONFIG, head_changes=VARIANTS[name], test=[test_record(model, cfg)], train=dh.train_record(model))
    with open(f'{out}/{name}.outputs.json', 'w') as fh:
        json.dump(result, fh, indent=1)
    t = result['test'][0]
    print(name, 'pre-NMS', t['pre_nms_count'], 'detections', len(t['detections']),
          'scores', [r[4] for r in t['detections'][:5]], '...', [r[4] for r in t['detections'][-3:]],
          'losses', result['train']['log_vars'])


if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or VARIANTS:
        make(name, out)
