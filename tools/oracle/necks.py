"""Fixtures for DetSharp's PAFPN, NASFPN and BFP necks and the ConvAWS conv layer, made with the real MMDetection 2.28.2.

Our own script (not upstream code). It imports MMDetection and mmcv from the local reference build at /work/oracle
(see ../shared/docs/oracle.md), so run it with Debian's python:

    /usr/bin/python3 tools/oracle/necks.py tests/fixtures/mmdet-2.28/necks

It writes into that folder weights.pth ({'state_dict': every neck's weights under its name + '.', and the inputs
under 'input.<i>' / 'bfp_input.<i>' / 'nas_input.<i>'}) and outputs.json (every output map in full, row-major, plus
the ConvAWS buffers recovered on loading a checkpoint without them). tests/fixtures/mmdet-2.28/necks/README.md
describes the models, seeds and steps.
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

logging.getLogger('mmcv').setLevel(logging.WARNING)

NECKS = {
    # PAFPN with MMDetection's defaults: max-pooled extra level.
    'pafpn': dict(type='PAFPN', in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5),
    # PAFPN as the gn+ws configs build their convs: ConvAWS + GroupNorm, extra conv on the last input, ReLU.
    'pafpn_aws': dict(type='PAFPN', in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5, start_level=1,
                      add_extra_convs='on_input', conv_cfg=dict(type='ConvAWS'),
                      norm_cfg=dict(type='GN', num_groups=4, requires_grad=True), act_cfg=dict(type='ReLU')),
    # NAS-FPN as the zoo config (BN), two stages, on three backbone levels of odd sizes (pads in the merge cells).
    'nasfpn': dict(type='NASFPN', in_channels=[8, 16, 32], out_channels=16, num_outs=5, stack_times=2,
                   norm_cfg=dict(type='BN', requires_grad=True)),
    # BFP as Libra R-CNN with the conv refinement, and without refinement.
    'bfp_conv': dict(type='BFP', in_channels=16, num_levels=5, refine_level=2, refine_type='conv'),
    'bfp_none': dict(type='BFP', in_channels=16, num_levels=5, refine_level=1),
    # BFP with the non-local refinement (mmcv's NonLocal2d, reduction 1, no scale). Last, so that adding it left the
    # random draws of the necks above unchanged.
    'bfp_non_local': dict(type='BFP', in_channels=16, num_levels=5, refine_level=2, refine_type='non_local'),
}
INPUT_SIZES = [(16, 20), (8, 10), (4, 5), (2, 3)]             # PAFPN: strides 4..32 of a 64x80 image (odd at the end)
NAS_INPUT_SIZES = [(20, 28), (10, 14), (5, 7)]                # NASFPN: C3..C5, P6 = 2x3, P7 = 1x1
BFP_INPUT_SIZES = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]


def randomize(module, gen):
    """Random norm affine / running stats, conv biases and ConvAWS gamma / beta, so the fixture exercises them."""
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            n = m.weight.numel()
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean = torch.randn(n, generator=gen) * 0.1
                m.running_var = torch.rand(n, generator=gen) + 0.5
        elif isinstance(m, torch.nn.Conv2d):
            if m.bias is not None:
                m.bias.data = torch.randn(m.out_channels, generator=gen) * 0.1
            if hasattr(m, 'weight_gamma'):
                m.weight_gamma.data = torch.rand(m.weight_gamma.shape, generator=gen) + 0.5
                m.weight_beta.data = torch.randn(m.weight_beta.shape, generator=gen) * 0.01


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
    # NonLocal2d zero-initialises conv_out (it starts as the identity); give it weights so the attention is exercised.
    out_conv = necks['bfp_non_local'].refine.conv_out.conv
    out_conv.weight.data = torch.randn(out_conv.weight.shape, generator=gen) * 0.1
    igen = torch.Generator().manual_seed(2)
    inputs = [torch.randn(1, c, h, w, generator=igen) for c, (h, w) in zip([8, 16, 32, 64], INPUT_SIZES)]
    nas_inputs = [torch.randn(1, c, h, w, generator=igen) for c, (h, w) in zip([8, 16, 32], NAS_INPUT_SIZES)]
    bfp_inputs = [torch.randn(1, 16, h, w, generator=igen) for h, w in BFP_INPUT_SIZES]

    outputs = {}
    with torch.no_grad():
        for name, neck in necks.items():
            x = nas_inputs if name == 'nasfpn' else bfp_inputs if name.startswith('bfp') else inputs
            outputs[name] = list(neck(x))

    # mmcv's ConvAWS2d._load_from_state_dict: a checkpoint without weight_gamma / weight_beta (a plain conv's) makes
    # them the loaded weight's per-channel std and mean.
    plain = {k: v for k, v in necks['pafpn_aws'].state_dict().items() if not k.endswith(('weight_gamma', 'weight_beta'))}
    reloaded = build_neck(NECKS['pafpn_aws'])
    missing = reloaded.load_state_dict(plain, strict=False).missing_keys
    assert missing == [], missing
    outputs['aws_recovered_gamma'] = reloaded.lateral_convs[0].conv.weight_gamma
    outputs['aws_recovered_beta'] = reloaded.lateral_convs[0].conv.weight_beta

    state = {}
    for name, neck in necks.items():
        for k, v in neck.state_dict().items():
            state[f'{name}.{k}'] = v
    for i, t in enumerate(inputs):
        state[f'input.{i}'] = t
    for i, t in enumerate(nas_inputs):
        state[f'nas_input.{i}'] = t
    for i, t in enumerate(bfp_inputs):
        state[f'bfp_input.{i}'] = t
    torch.save({'state_dict': state}, os.path.join(out_dir, 'weights.pth'))
    _fixture.write(os.path.join(out_dir, 'outputs.json'), outputs)
    for name, outs in outputs.items():
        print(name, [tuple(o.shape) for o in outs] if isinstance(outs, list) else tuple(outs.shape))


if __name__ == '__main__':
    main(sys.argv[1])
