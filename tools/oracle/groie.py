"""Makes tests/fixtures/mmdet-2.28/groie/: MMDetection 2.28.2's GenericRoIExtractor (GRoIE) on fixed random feature maps
and RoIs, with fixed weights for its pre/post plugins, in slim variants of the groie/ configs' extractor.

Our own generator script (not upstream code): it imports MMDetection 2.28.2 + mmcv 1.7.1 from /work/oracle (the local
reference of ../shared/docs/oracle.md; oracle_env maps mmcv's roi_align to torchvision's CPU kernel, aligned=True).
Not part of the build or the tests. The folder's README.md says what each file holds.
Usage: /usr/bin/python3 tools/oracle/groie.py [OUT_DIR]
"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must precede mmcv)
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.models.builder import build_roi_extractor  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'groie')
CHANNELS = 8
STRIDES = [4, 8, 16, 32]
IMAGE = (2, 96, 128)  # batch, height, width of the image the RoIs live in

# name -> extractor config (the groie/ configs' extractors with 8 channels; 'concat' lays 4 levels of 2 channels side by side)
CASES = {
    'sum_pre_post': dict(
        type='GenericRoIExtractor', aggregation='sum',
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
        out_channels=CHANNELS, featmap_strides=STRIDES,
        pre_cfg=dict(type='ConvModule', in_channels=CHANNELS, out_channels=CHANNELS, kernel_size=5, padding=2, inplace=False),
        post_cfg=dict(type='GeneralizedAttention', in_channels=CHANNELS, spatial_range=-1, num_heads=2,
                      attention_type='0100', kv_stride=2)),
    'sum_plain_rescaled': dict(
        type='GenericRoIExtractor',
        roi_layer=dict(type='RoIAlign', output_size=(5, 4), sampling_ratio=0),
        out_channels=CHANNELS, featmap_strides=STRIDES),
    'concat_pre': dict(
        type='GenericRoIExtractor', aggregation='concat',
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
        out_channels=4 * 2, featmap_strides=STRIDES,
        pre_cfg=dict(type='ConvModule', in_channels=2, out_channels=2, kernel_size=3, padding=1,
                     norm_cfg=dict(type='GN', num_groups=1))),
}
SCALE_FACTOR = {'sum_plain_rescaled': 1.5}


def config_py(cfg):
    return 'extractor = ' + repr(cfg) + '\n'


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    b, h, w = IMAGE
    inputs = {}
    for c in (CHANNELS, 2):
        for i, s in enumerate(STRIDES):
            inputs[f'feats{c}.{i}'] = torch.randn(b, c, h // s, w // s)
    # RoIs of every size, so that all levels matter; a few reach past the image.
    n = 12
    x1 = torch.rand(n) * w * 0.8
    y1 = torch.rand(n) * h * 0.8
    bw = torch.rand(n) * w * 0.9 + 2
    bh = torch.rand(n) * h * 0.9 + 2
    inputs['rois'] = torch.stack([torch.arange(n) % b, x1, y1, x1 + bw, y1 + bh], 1).float()
    torch.save(inputs, os.path.join(out, 'inputs.pth'))
    record = {}
    for name, cfg in CASES.items():
        torch.manual_seed(1)
        m = build_roi_extractor(Config(dict(e=cfg)).e)
        m.init_weights()
        # Non-zero GeneralizedAttention gamma and GN affine, so that the plugins change the output.
        for k, v in m.state_dict().items():
            if k.endswith('gamma') or '.gn.' in k:
                v.copy_(torch.randn_like(v) * 0.5 + (1 if k.endswith('gn.weight') else 0))
        m.eval()
        c = cfg['out_channels'] if cfg.get('aggregation') != 'concat' else 2
        feats = [inputs[f'feats{c}.{i}'] for i in range(len(STRIDES))]
        with torch.no_grad():
            y = m(feats, inputs['rois'], SCALE_FACTOR.get(name))
        torch.save(m.state_dict(), os.path.join(out, name + '.pth'))
        record[name] = dict(config_py=config_py(cfg), feats=f'feats{c}', roi_scale_factor=SCALE_FACTOR.get(name),
                            keys=list(m.state_dict().keys()), output=_fixture.tensor_entry(y))
        print(name, tuple(y.shape), float(y.sum()))
    _fixture.write(os.path.join(out, 'outputs.json'), record)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else OUT)
