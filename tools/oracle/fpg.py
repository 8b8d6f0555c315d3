"""Fixtures for DetSharp's FPG neck (Feature Pyramid Grids), made with the real MMDetection 2.28.2.

Our own script (not upstream code). It imports MMDetection and mmcv from the local reference build at /work/oracle
(see ../shared/docs/oracle.md), so run it with Debian's python:

    /usr/bin/python3 tools/oracle/fpg.py tests/fixtures/mmdet-2.28/fpg

It writes into that folder weights.pth ({'state_dict': every neck's weights under its name + '.', and the inputs
under 'input.<i>'}), outputs.json (every output map in full) and necks.py (the neck dicts). tests/fixtures/mmdet-2.28/fpg/README.md describes
the models, seeds and steps.
"""
import logging
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import torch  # noqa: E402
from mmdet.models import build_neck  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fixture  # noqa: E402
from necks import randomize  # noqa: E402

logging.getLogger('mmcv').setLevel(logging.WARNING)

BN = dict(type='BN', requires_grad=True)
ACT_FIRST = ('act', 'conv', 'norm')
NECKS = {
    # The zoo's fpg configs scaled down: bottom-up pathways, act-conv-norm transitions with BN, nearest
    # interpolation_conv across-down, conv across-skip from the laterals, level 0 skipped in every stack, level 1 in two.
    'fpg_zoo': dict(
        type='FPG', in_channels=[8, 16, 32, 64], out_channels=16, inter_channels=16, num_outs=5, stack_times=3,
        paths=['bu'] * 3, same_down_trans=None,
        same_up_trans=dict(type='conv', kernel_size=3, stride=2, padding=1, norm_cfg=BN, inplace=False, order=ACT_FIRST),
        across_lateral_trans=dict(type='conv', kernel_size=1, norm_cfg=BN, inplace=False, order=ACT_FIRST),
        across_down_trans=dict(type='interpolation_conv', mode='nearest', kernel_size=3, norm_cfg=BN, order=ACT_FIRST,
                               inplace=False),
        across_up_trans=None,
        across_skip_trans=dict(type='conv', kernel_size=1, norm_cfg=BN, inplace=False, order=ACT_FIRST),
        output_trans=dict(type='last_conv', kernel_size=3, order=ACT_FIRST, inplace=False),
        norm_cfg=BN, skip_inds=[(0, 1, 2), (0, 1), (), (), ()]),
    # A top-down pathway after a bottom-up one (same_down by interpolation), across-up convs instead of across-down,
    # no across-skip, plain conv-norm-act order without norms (biases), extra level by a stride-2 conv, start_level 1,
    # and an output transition with BN.
    'fpg_td': dict(
        type='FPG', in_channels=[8, 16, 32, 64], out_channels=16, inter_channels=12, num_outs=4, stack_times=2,
        paths=['bu', 'td'], start_level=1, add_extra_convs=True,
        same_down_trans=dict(type='interpolation_conv', mode='nearest', kernel_size=3),
        same_up_trans=dict(type='conv', kernel_size=3, stride=2, padding=1),
        across_lateral_trans=dict(type='conv', kernel_size=1),
        across_down_trans=None,
        across_up_trans=dict(type='conv', kernel_size=3, stride=2, padding=1),
        across_skip_trans=None,
        output_trans=dict(type='last_conv', kernel_size=3, norm_cfg=BN),
        skip_inds=[(0,), (), (0,), ()]),  # bottom-up stack only: MMDetection passes map j (not level) through in td
}
INPUT_SIZES = [(32, 48), (16, 24), (8, 12), (4, 6)]   # strides 4..32 of a 128x192 image: every level halves exactly


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    necks = {}
    for name, cfg in NECKS.items():
        neck = build_neck(cfg)
        neck.init_weights()
        necks[name] = neck
    gen = torch.Generator().manual_seed(1)
    for neck in necks.values():
        randomize(neck, gen)
        neck.eval()
    igen = torch.Generator().manual_seed(2)
    inputs = [torch.randn(1, c, h, w, generator=igen) for c, (h, w) in zip([8, 16, 32, 64], INPUT_SIZES)]

    outputs = {}
    with torch.no_grad():
        for name, neck in necks.items():
            outputs[name] = list(neck(inputs))

    state = {}
    for name, neck in necks.items():
        for k, v in neck.state_dict().items():
            state[f'{name}.{k}'] = v
    for i, t in enumerate(inputs):
        state[f'input.{i}'] = t
    torch.save({'state_dict': state}, os.path.join(out_dir, 'weights.pth'))
    _fixture.write(os.path.join(out_dir, 'outputs.json'), outputs)
    # The neck dicts as a Python config, read by DetSharp's test through its own config parser.
    with open(os.path.join(out_dir, 'necks.py'), 'w') as fh:
        fh.write(''.join(f'{name} = {cfg!r}\n' for name, cfg in NECKS.items()))
    for name, outs in outputs.items():
        print(name, [tuple(o.shape) for o in outs])


if __name__ == '__main__':
    main(sys.argv[1])
