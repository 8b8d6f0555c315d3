"""Oracle fixture for PISARetinaHead: builds MMDetection 2.28.2's head (imported from /work/oracle, see
../shared/docs/oracle.md) from tests/fixtures/mmdet-2.28/pisa/head_config.py, calls its loss() on the fixed batch of
_dense_batch.py (given logits and deltas), and writes the inputs, loss_cls / loss_bbox / loss_carl, the positives'
label weights after isr_p (captured by wrapping isr_p), and the losses without isr and carl to pisa_retina_loss.json.
Run: /usr/bin/python3 tools/oracle/pisa.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.models import build_head  # noqa: E402
import mmdet.models.dense_heads.pisa_retinanet_head as pisa_module  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _dense_batch  # noqa: E402
import _fixture  # noqa: E402

DIR = os.path.join(os.path.dirname(__file__), '../../tests/fixtures/mmdet-2.28/pisa')
cfg = Config.fromfile(os.path.join(DIR, 'head_config.py')).head
cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas = _dense_batch.make_batch()
entries = _dense_batch.batch_entries(cls_scores, bbox_preds, gt_bboxes, gt_labels)

captured = {}
original_isr_p = pisa_module.isr_p


def capturing_isr_p(*args, **kwargs):
    labels, label_weights = args[2][0].clone(), args[2][1].clone()
    out = original_isr_p(*args, **kwargs)
    pos = ((labels >= 0) & (labels < kwargs['num_class'])).nonzero().reshape(-1)
    captured['pos_inds'] = pos
    captured['pos_label_weights_before'] = label_weights[pos]
    captured['pos_label_weights_after'] = out[1][pos]
    return out


pisa_module.isr_p = capturing_isr_p
head = build_head(cfg)
losses = head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)
for k in ('loss_cls', 'loss_bbox', 'loss_carl'):
    entries[k] = losses[k].reshape(1)
entries.update(captured)
plain = dict(cfg)
plain['train_cfg'] = Config({k: v for k, v in cfg.train_cfg.items() if k not in ('isr', 'carl')})
losses_plain = build_head(plain).loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)
entries['plain_loss_cls'] = losses_plain['loss_cls'].reshape(1)
entries['plain_loss_bbox'] = losses_plain['loss_bbox'].reshape(1)
print({k: float(v) for k, v in losses.items()}, {k: float(v) for k, v in losses_plain.items()},
      'positives', int(captured['pos_inds'].numel()))
_fixture.write(os.path.join(DIR, 'pisa_retina_loss.json'), entries)
