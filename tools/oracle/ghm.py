"""Oracle fixture for GHMC / GHMR: runs MMDetection 2.28.2's own losses (imported from /work/oracle, see
../shared/docs/oracle.md) on fixed random inputs and writes tests/fixtures/mmdet-2.28/ghm/ghm_losses.json.
Run: /usr/bin/python3 tools/oracle/ghm.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from mmdet.models.losses import GHMC, GHMR  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '../../tests/fixtures/mmdet-2.28/ghm/ghm_losses.json')
torch.manual_seed(0)
N, C = 40, 3
entries = {}
# two calls each, so the momentum runs show acc_sum carried from one call to the next
for step in range(2):
    entries[f'cls_pred_{step}'] = torch.randn(N, C) * 3
    labels = torch.randint(0, C + 1, (N,))  # C is background
    entries[f'cls_labels_{step}'] = labels
    lw = torch.ones(N)
    lw[torch.randperm(N)[:6]] = 0  # ignored anchors
    entries[f'cls_label_weights_{step}'] = lw
    entries[f'reg_pred_{step}'] = torch.randn(N, 4) * 0.05
    entries[f'reg_target_{step}'] = torch.randn(N, 4) * 0.05
    bw = torch.zeros(N, 4)
    bw[torch.randperm(N)[:15]] = 1  # positives
    entries[f'reg_weights_{step}'] = bw

cases = {
    'ghmc_m0': GHMC(bins=10, momentum=0, loss_weight=1.0),
    'ghmc_zoo': GHMC(bins=30, momentum=0.75, loss_weight=1.0),
    'ghmr_m0': GHMR(mu=0.02, bins=10, momentum=0, loss_weight=1.0),
    'ghmr_zoo': GHMR(mu=0.02, bins=10, momentum=0.7, loss_weight=10.0),
}
for name, loss in cases.items():
    for step in range(2):
        if name.startswith('ghmc'):
            v = loss(entries[f'cls_pred_{step}'], entries[f'cls_labels_{step}'], entries[f'cls_label_weights_{step}'], avg_factor=123.0)
        else:
            v = loss(entries[f'reg_pred_{step}'], entries[f'reg_target_{step}'], entries[f'reg_weights_{step}'], avg_factor=123.0)
        entries[f'{name}_loss_{step}'] = v.reshape(1)
        if hasattr(loss, 'acc_sum'):
            entries[f'{name}_acc_sum_{step}'] = loss.acc_sum.clone()
    entries[f'{name}_edges'] = loss.edges.clone()
_fixture.write(OUT, entries)
print('wrote', OUT)
