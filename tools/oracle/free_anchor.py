"""Oracle fixture for FreeAnchorRetinaHead's loss: builds MMDetection 2.28.2's head (imported from /work/oracle, see
../shared/docs/oracle.md) from tests/fixtures/mmdet-2.28/free_anchor/head_config.py, calls its loss() on the fixed
batch of _dense_batch.py (given logits and deltas, so no weights are involved), and writes the inputs and
positive_bag_loss / negative_bag_loss, plus the same for pre_anchor_topk=10 and bbox_thr=0.3, to
free_anchor_loss.json. Run: /usr/bin/python3 tools/oracle/free_anchor.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
from mmcv import Config  # noqa: E402
from mmdet.models import build_head  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _dense_batch  # noqa: E402
import _fixture  # noqa: E402

DIR = os.path.join(os.path.dirname(__file__), '../../tests/fixtures/mmdet-2.28/free_anchor')
cfg = Config.fromfile(os.path.join(DIR, 'head_config.py')).head
cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas = _dense_batch.make_batch()
entries = _dense_batch.batch_entries(cls_scores, bbox_preds, gt_bboxes, gt_labels)
for name, extra in {'default': {}, 'top10_thr03': dict(pre_anchor_topk=10, bbox_thr=0.3)}.items():
    head = build_head(dict(cfg, **extra))
    losses = head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)
    entries[f'{name}_positive_bag_loss'] = losses['positive_bag_loss'].reshape(1)
    entries[f'{name}_negative_bag_loss'] = losses['negative_bag_loss'].reshape(1)
    print(name, {k: float(v) for k, v in losses.items()})
_fixture.write(os.path.join(DIR, 'free_anchor_loss.json'), entries)
