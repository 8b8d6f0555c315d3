"""Slim ResNeXt, RegNet, Res2Net and ResNeSt backbones from MMDetection 2.28.2, with fixed weights and their outputs.

Our own generator script (not upstream code): it imports MMDetection 2.28.2 + mmcv 1.7.1 from /work/oracle (the local
reference, see ../shared/docs/oracle.md) and writes tests/fixtures/mmdet-2.28/backbones/:
  input.pth          {'input': float32 [2, 3, 64, 80]} (torch.manual_seed(0), randn)
  <name>.pth         {'state_dict': the backbone's state dict}
  <name>.json        the backbone config (also as Python text), and per output: shape, sum, abs_sum and values at
                     fixed flat indices
  regnet_archs.json  for every named RegNetX arch: stage widths, blocks, group widths and bottleneck ratio as mmdet's
                     RegNet computes them (generate_regnet, get_stages_from_blocks, adjust_width_group)
Weights: mmdet's init_weights() after torch.manual_seed(1), then every norm layer's weight U(0.5, 1.5), bias N(0, 0.1),
running_mean N(0, 0.1), running_var U(0.5, 1.5) (so BN is not the identity and zero_init_residual's zeros are gone).
Outputs are computed in eval mode, float32, one thread.

Run with Debian's python: /usr/bin/python3 tools/oracle/backbones.py
"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import torch  # noqa: E402
from mmdet.models import build_backbone  # noqa: E402
from mmdet.models.backbones import RegNet  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'backbones')

BACKBONES = {
    'resnext50_g4w2_b8': dict(type='ResNeXt', depth=50, groups=4, base_width=2, base_channels=8, out_indices=(0, 1, 2, 3),
                              norm_eval=True, style='pytorch'),
    'regnet_custom': dict(type='RegNet', arch=dict(w0=8, wa=8.0, wm=2.0, group_w=8, depth=6, bot_mul=1.0),
                          stem_channels=8, out_indices=(0, 1, 2, 3), norm_eval=True, style='pytorch'),
    'res2net50_s4w3_b8': dict(type='Res2Net', depth=50, scales=4, base_width=3, base_channels=8, out_indices=(0, 1, 2, 3),
                              norm_eval=True),
    'resnest50_r2g2_b8': dict(type='ResNeSt', depth=50, groups=2, base_width=4, radix=2, reduction_factor=4,
                              avg_down_stride=True, base_channels=8, stem_channels=16, out_indices=(0, 1, 2, 3),
                              norm_eval=True, style='pytorch'),
}

SAMPLES = 7  # values at flat indices round(k * (n - 1) / (SAMPLES - 1)), k = 0..SAMPLES-1


def randomize_norms(model):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def regnet_archs():
    widths_of = RegNet.__new__(RegNet)  # its width helpers need no module state
    archs = {}
    for name, a in RegNet.arch_settings.items():
        widths, num_stages = widths_of.generate_regnet(a['w0'], a['wa'], a['wm'], a['depth'])
        stage_widths, stage_blocks = widths_of.get_stages_from_blocks(widths)
        ratios = [a['bot_mul']] * num_stages
        stage_widths, group_widths = widths_of.adjust_width_group(stage_widths, ratios, [a['group_w']] * num_stages)
        archs[name] = dict(stage_widths=stage_widths, stage_blocks=stage_blocks, group_widths=group_widths,
                           bot_mul=a['bot_mul'])
    with open(os.path.join(OUT, 'regnet_archs.json'), 'w') as f:
        json.dump(archs, f, indent=1)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 80)
    torch.save({'input': x}, os.path.join(OUT, 'input.pth'))
    regnet_archs()
    for name, cfg in BACKBONES.items():
        torch.manual_seed(1)
        model = build_backbone(dict(cfg))
        model.init_weights()
        randomize_norms(model)
        model.eval()
        with torch.no_grad():
            outs = model(x)
        record = dict(config=cfg, config_py='backbone = ' + repr(cfg), outputs=[])
        for o in outs:
            flat = o.flatten().double()
            n = flat.numel()
            idx = [round(k * (n - 1) / (SAMPLES - 1)) for k in range(SAMPLES)]
            record['outputs'].append(dict(shape=list(o.shape), sum=flat.sum().item(), abs_sum=flat.abs().sum().item(),
                                          indices=idx, values=[flat[i].item() for i in idx]))
        torch.save({'state_dict': model.state_dict()}, os.path.join(OUT, name + '.pth'))
        with open(os.path.join(OUT, name + '.json'), 'w') as f:
            json.dump(record, f, indent=1)
        params = sum(p.numel() for p in model.parameters())
        print(name, params, [tuple(o.shape) for o in outs])


if __name__ == '__main__':
    main()
