"""Oracle fixture for the Seesaw Loss configs' mask predictor: MMDetection 2.28.2's NormedConv2d (imported from
/work/oracle, see ../shared/docs/oracle.md) on small fixed inputs.
Writes tests/fixtures/mmdet-2.28/normed_mask/normed_mask.json.
Run: /usr/bin/python3 tools/oracle/normed_mask.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from mmdet.models.utils import NormedConv2d  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _fixture  # noqa: E402

g = torch.Generator().manual_seed(0)
out = {}
# (name, kwargs): the seesaw configs' 1x1 predictor (tempearture 20), and a 3x3 conv with padding, power 2 and
# norm_over_kernel, so that both weight norms are exercised.
cases = {
    'mask_predictor': (dict(in_channels=8, out_channels=3, kernel_size=1), dict(tempearture=20)),
    'kernel_norm': (dict(in_channels=6, out_channels=4, kernel_size=3, padding=1),
                    dict(tempearture=10, power=2.0, eps=1e-5, norm_over_kernel=True)),
    'channel_norm_3x3': (dict(in_channels=6, out_channels=4, kernel_size=3, padding=1), dict(tempearture=20)),
}
for name, (conv, extra) in cases.items():
    layer = NormedConv2d(conv['in_channels'], conv['out_channels'], conv['kernel_size'], padding=conv.get('padding', 0), **extra)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * 0.1)
    x = torch.randn(2, conv['in_channels'], 5, 5, generator=g)
    out.update({f'{name}.weight': layer.weight, f'{name}.bias': layer.bias, f'{name}.x': x, f'{name}.y': layer(x)})

path = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'normed_mask', 'normed_mask.json')
_fixture.write(path, out)
print({k: v.reshape(-1)[:3].tolist() for k, v in out.items() if k.endswith('.y')})
