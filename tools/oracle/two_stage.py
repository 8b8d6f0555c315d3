#!/usr/bin/python3
"""Two-stage detector outputs on one balloon image from MMDetection 2.28.2, for the backbone issue's four models:
Mask R-CNN X-101-32x4d, Faster R-CNN RegNetX-3.2GF, Mask R-CNN R-50 + DCNv2 (c3-c5) and Mask R-CNN HRNetV2p-W18.

Our own script, not upstream code: it imports MMDetection and mmcv from the local reference build at /work/oracle
(see ../shared/docs/oracle.md), so run it with Debian's python:

    /usr/bin/python3 tools/oracle/two_stage.py tests/fixtures/mmdet-2.28/two_stage

mmcv's compiled deformable-conv ops are not built there: this script replaces the forward of mmcv.ops'
DeformConv2dPack / ModulatedDeformConv2dPack by torchvision.ops.deform_conv2d (the same sampling rule and offset/mask
layout; tests/fixtures/torchvision-0.14/deform_conv.json proves DetSharp's Ops/DeformConv.cs equals it).

Weights are the counter hash of tools/oracle/ssd.py (no 100+ MB checkpoint is stored; DetSharp's test recomputes
them): value = offset + (2u - 1) * bound, u = splitmix64((k << 32) + i) >> 11 / 2^53, k the entry's index in
state_dict order, i the flat index. bound: sqrt(gain / fan_in) for conv (4-D) and linear (2-D) weights (gain 3 for the ResNet-like backbones, 1.5
for HRNet, whose fuse layers add up to four branches: with Kaiming's 6 the eval-mode activations of these deep
residual nets grow by orders of magnitude and every score saturates at 1); other 1-D
'.weight' entries (the norm layers) 1 + 0.25 (2u - 1); running_var 1.5 + 0.5 (2u - 1); everything else (biases,
running means) 0.1 (2u - 1); integer buffers are left as they are but still count in k.
The input is the test pipeline of the config with img_scale SCALE (one scale, no flip), on the balloon val image IMAGE.
test_cfg.rcnn.score_thr is 0 so that the random classifier's scores are all kept up to max_per_img (100).
"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import mmcv.ops  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.parallel import collate  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_detector  # noqa: E402
from torchvision.ops import deform_conv2d  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd import hashed  # noqa: E402

CORPUS = '/work/shared/mmdet-configs-2.28/'
IMAGE = '/work/shared/datasets/balloon/val/3800636873_ace2c2795f_b.jpg'
SCALE = (480, 320)
PROPOSALS_KEPT = 300
GAIN_HRNET = 1.5
MODELS = [
    # config, fixture, gain (see fill_weights)
    ('mask_rcnn/mask_rcnn_x101_32x4d_fpn_1x_coco.py', 'mask_rcnn_x101_32x4d.json', 3.0),
    ('regnet/faster_rcnn_regnetx-3.2GF_fpn_1x_coco.py', 'faster_rcnn_regnetx_3.2gf.json', 3.0),
    ('dcnv2/mask_rcnn_r50_fpn_mdconv_c3-c5_1x_coco.py', 'mask_rcnn_r50_mdconv_c3-c5.json', 3.0),
    ('hrnet/mask_rcnn_hrnetv2p_w18_1x_coco.py', 'mask_rcnn_hrnetv2p_w18.json', GAIN_HRNET),
]


def dcn_forward(self, x):
    offset = self.conv_offset(x)
    return deform_conv2d(x, offset, self.weight, None, self.stride, self.padding, self.dilation)


def mdcn_forward(self, x):
    o1, o2, mask = torch.chunk(self.conv_offset(x), 3, dim=1)
    return deform_conv2d(x, torch.cat((o1, o2), dim=1), self.weight, self.bias, self.stride, self.padding,
                         self.dilation, mask=torch.sigmoid(mask))


mmcv.ops.DeformConv2dPack.forward = dcn_forward
mmcv.ops.ModulatedDeformConv2dPack.forward = mdcn_forward


def fill_weights(model, gain):
    for k, (name, t) in enumerate(model.state_dict().items()):
        if not t.is_floating_point():
            continue
        if t.dim() in (2, 4):
            v = hashed(k, t.shape, float(np.sqrt(gain / int(np.prod(t.shape[1:])))))
        elif name.endswith('running_var'):
            v = hashed(k, t.shape, 0.5, 1.5)
        elif name.endswith('.weight'):
            v = hashed(k, t.shape, 0.25, 1.0)
        else:
            v = hashed(k, t.shape, 0.1)
        t.copy_(v)


def map_stats(t):
    d = t.double()
    return {'shape': list(t.shape), 'sum': float(d.sum()), 'abs_sum': float(d.abs().sum())}


def run(config, out, gain):
    cfg = Config.fromfile(CORPUS + config)
    cfg.model.backbone.init_cfg = None
    cfg.model.pretrained = None
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    pipeline = cfg.data.test.pipeline
    pipeline[1].img_scale = SCALE
    model = build_detector(cfg.model)
    with torch.no_grad():
        fill_weights(model, gain)
    model.eval()
    data = Compose(pipeline)(dict(img_info=dict(filename=IMAGE), img_prefix=None))
    data = collate([data], samples_per_gpu=1)
    img = data['img'][0]
    metas = data['img_metas'][0].data[0]
    with torch.no_grad():
        feats = model.extract_feat(img)
        proposals = model.rpn_head.simple_test_rpn(feats, metas)[0]
        result = model.simple_test(img, metas, rescale=True)[0]
    bbox_result = result[0] if isinstance(result, tuple) else result
    dets, labels = [], []
    for c, b in enumerate(bbox_result):
        for row in b.tolist():
            dets.append(row)
            labels.append(c)
    meta = metas[0]
    fixture = {
        'config': config + ' (backbone init_cfg None, test_cfg.rcnn.score_thr 0.0, test img_scale %s)' % (SCALE,),
        'gain': gain,
        'image': os.path.basename(IMAGE),
        'img_scale': list(SCALE),
        'input': dict(map_stats(img), img_shape=list(meta['img_shape']), pad_shape=list(meta['pad_shape']),
                      scale_factor=[float(v) for v in meta['scale_factor']]),
        'features': [map_stats(f) for f in feats],
        'proposal_count': proposals.shape[0],
        'proposals': proposals[:PROPOSALS_KEPT].tolist(),
        'detections': {'bboxes': dets, 'labels': labels},
    }
    with open(out, 'w') as f:
        json.dump(fixture, f, indent=0)
    scores = sorted((d[4] for d in dets), reverse=True)
    print(config, 'input', fixture['input']['shape'], 'features', [round(s['abs_sum'] / np.prod(s['shape']), 4) for s in fixture['features']],
          'proposals', proposals.shape[0], 'top/100th', float(proposals[0, 4]), float(proposals[min(99, len(proposals) - 1), 4]),
          'dets', len(dets), 'scores', scores[:3], scores[-3:])


def main(out_dir):
    only = sys.argv[2:]
    for config, name, gain in MODELS:
        if not only or any(o in config for o in only):
            run(config, os.path.join(out_dir, name), gain)


if __name__ == '__main__':
    main(sys.argv[1])
