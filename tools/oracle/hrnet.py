"""Fixtures for DetSharp's HRNet backbone and HRFPN neck, made with the real MMDetection 2.28.2.

Our own script (not upstream code). It imports MMDetection and mmcv from the local reference build at /work/oracle
(see ../shared/docs/oracle.md), so run it with Debian's python:

    /usr/bin/python3 tools/oracle/hrnet.py tests/fixtures/mmdet-2.28/hrnet

It writes into that folder:
  weights.pth       {'state_dict': ...}: HRNet under 'backbone.', HRFPN (AVG, stride 1) under 'neck.', HRFPN (MAX,
                    stride 2, num_outs 3) under 'neck_max.', and the input image under 'input'
  outputs.json      per output map of each model: shape, sum, sum of |x|, and values at fixed flat indices
  mask_rcnn_hrnetv2p_slim_balloon.state_dict.tsv
                    the state_dict keys and shapes of configs/balloon/mask_rcnn_hrnetv2p_slim_balloon.py as MMDetection
                    builds it (the format of `detsharp print-model --state-dict`)
Steps: torch.manual_seed(0); the slim models below are built and init_weights() is called (mmdet's own
initialisation: Kaiming convs for HRNet, Caffe2Xavier / ConvModule Kaiming for HRFPN); then, drawing from
torch.Generator().manual_seed(1), every BatchNorm gets random weight/bias/running stats and every HRFPN conv a random
bias, so those enter the numbers too; the input is randn(1, 3, 64, 96) from torch.Generator().manual_seed(2). All
models run in eval mode. tests/fixtures/mmdet-2.28/hrnet/README.md says the same for the fixture's readers.
"""
import json
import logging
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.models import build_backbone, build_detector, build_neck  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
BALLOON_CONFIG = 'configs/balloon/mask_rcnn_hrnetv2p_slim_balloon.py'

logging.getLogger('mmcv').setLevel(logging.WARNING)  # init_weights logs every parameter at INFO

# HRNetV2's layout, slimmed: 1 module and 1 block per stage, branch channels 4/8/16/32 (w32 has 32/64/128/256).
SLIM_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ), num_channels=(8, )),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 16, 32)))

NECK_AVG = dict(type='HRFPN', in_channels=[4, 8, 16, 32], out_channels=16, num_outs=5)
NECK_MAX = dict(type='HRFPN', in_channels=[4, 8, 16, 32], out_channels=16, num_outs=3, pooling_type='MAX', stride=2)
SAMPLE_IDX = [0, 1, 17, 123, 257, 1000, 2047, 4095]


def randomize(module, gen):
    """Random BN affine + running stats and conv biases, so the fixture exercises them."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=gen) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_mean = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_var = torch.rand(m.num_features, generator=gen) + 0.5
        elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            m.bias.data = torch.randn(m.out_channels, generator=gen) * 0.1


def stats(t):
    flat = t.reshape(-1).double()
    n = flat.numel()
    idx = sorted({i % n for i in SAMPLE_IDX})
    return dict(shape=list(t.shape), sum=float(flat.sum()), abs_sum=float(flat.abs().sum()),
                samples=[[i, float(flat[i])] for i in idx])


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    backbone = build_backbone(dict(type='HRNet', extra=SLIM_EXTRA))
    backbone.init_weights()
    backbone_single = build_backbone(dict(type='HRNet', extra=SLIM_EXTRA, multiscale_output=False))
    neck = build_neck(NECK_AVG)
    neck.init_weights()
    neck_max = build_neck(NECK_MAX)
    neck_max.init_weights()
    gen = torch.Generator().manual_seed(1)
    for m in (backbone, neck, neck_max):
        randomize(m, gen)
    # Same weights with multiscale_output=False: its last module keeps only the fuse layers into branch 0.
    missing, unexpected = backbone_single.load_state_dict(backbone.state_dict(), strict=False)
    assert not missing, missing
    for m in (backbone, backbone_single, neck, neck_max):
        m.eval()
    img = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = backbone(img)
        single = backbone_single(img)
        outs = neck(feats)
        outs_max = neck_max(feats)
    sd = {}
    for prefix, m in (('backbone.', backbone), ('neck.', neck), ('neck_max.', neck_max)):
        for k, v in m.state_dict().items():
            sd[prefix + k] = v.clone()
    sd['input'] = img.clone()
    torch.save({'state_dict': sd}, os.path.join(out_dir, 'weights.pth'))
    result = dict(
        hrnet=[stats(t) for t in feats],
        hrnet_single=[stats(t) for t in single],
        hrfpn_avg=[stats(t) for t in outs],
        hrfpn_max=[stats(t) for t in outs_max],
        unused_by_single=sorted(unexpected))
    with open(os.path.join(out_dir, 'outputs.json'), 'w') as f:
        json.dump(result, f, indent=1)
    detector = build_detector(Config.fromfile(os.path.join(REPO, BALLOON_CONFIG)).model)
    name = os.path.splitext(os.path.basename(BALLOON_CONFIG))[0]
    with open(os.path.join(out_dir, name + '.state_dict.tsv'), 'w') as f:
        for k, v in detector.state_dict().items():
            f.write(f"{k}\t[{', '.join(str(d) for d in v.shape)}]\n")
    print({k: [s['shape'] for s in v] for k, v in result.items() if k != 'unused_by_single'})
    print('keys unused with multiscale_output=False:', len(unexpected))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/mmdet-2.28/hrnet')
