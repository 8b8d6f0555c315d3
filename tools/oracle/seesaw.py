"""Oracle fixture for the LVIS predictors: MMDetection 2.28.2's SeesawLoss and NormedLinear (imported from /work/oracle,
see ../shared/docs/oracle.md) on a small fixed input. Writes tests/fixtures/mmdet-2.28/seesaw/seesaw.json.
Run: /usr/bin/python3 tools/oracle/seesaw.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from mmdet.models.losses import SeesawLoss  # noqa: E402
from mmdet.models.utils import NormedLinear  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _fixture  # noqa: E402

C = 5
g = torch.Generator().manual_seed(0)
n = 12
cls_score = torch.randn(n, C + 2, generator=g) * 2
labels = torch.tensor([0, 1, 2, 3, 4, 5, 5, 1, 3, 5, 0, 2])
label_weights = (torch.rand(n, generator=g) > 0.2).float()
cum_before = torch.tensor([10., 3., 50., 0., 7., 100.])  # class 3 unseen so far: clamped to 1
out = {'cls_score': cls_score, 'labels': labels.float(), 'label_weights': label_weights, 'cum_samples_before': cum_before}

cases = {
    'default': dict(p=0.8, q=2.0, num_classes=C),
    'p_only': dict(p=0.8, q=0.0, num_classes=C, loss_weight=2.0),
    'q_only': dict(p=0.0, q=2.0, num_classes=C, eps=0.05),
}
for name, kw in cases.items():
    loss = SeesawLoss(**kw)
    loss.cum_samples.copy_(cum_before)
    # As BBoxHead.loss calls it: avg_factor = number of RoIs with weight > 0.
    avg = max(float((label_weights > 0).sum()), 1.)
    d = loss(cls_score, labels, label_weights, avg_factor=avg)
    out[f'{name}.loss_cls_objectness'] = d['loss_cls_objectness'].reshape(1)
    out[f'{name}.loss_cls_classes'] = d['loss_cls_classes'].reshape(1)
    out[f'{name}.cum_samples_after'] = loss.cum_samples.clone()
    loss.cum_samples.copy_(cum_before)
    out[f'{name}.no_weights_sum'] = loss(cls_score, labels).__getitem__('loss_cls_classes').reshape(1)

loss = SeesawLoss(num_classes=C)
out['activation'] = loss.get_activation(cls_score)
acc = loss.get_accuracy(cls_score, labels)
out['acc_objectness'] = acc['acc_objectness'].reshape(1)
out['acc_classes'] = acc['acc_classes'].reshape(1)

torch.manual_seed(1)
fc = NormedLinear(16, C + 2, tempearture=20)
with torch.no_grad():
    fc.bias.normal_(0, 0.1)
x = torch.randn(4, 16, generator=g)
out.update({'normed.weight': fc.weight, 'normed.bias': fc.bias, 'normed.x': x, 'normed.y': fc(x)})

path = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'seesaw', 'seesaw.json')
_fixture.write(path, out)
print({k: (v.reshape(-1)[:3].tolist() if hasattr(v, 'reshape') else v) for k, v in out.items() if 'loss' in k or 'acc' in k})
