"""Oracle fixture for PISARetinaHead: builds MMDetection 2.28.2's head (imported from /work/oracle, see
../shared/docs/oracle.md) from tests/fixtures/mmdet-2.28/pisa/head_config.py, calls its loss() on the fixed batch of
_dense_batch.py (given logits and deltas), and writes the inputs, loss_cls / loss_bbox / loss_carl, the positives'
label weights after isr_p (captured by wrapping isr_p), and the losses without isr and carl to pisa_retina_loss.json;
then the PISARoIHead part below (pisa_roi_head.pth, pisa_roi_loss.json).
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

# --- PISARoIHead + ScoreHLRSampler: roi_head_config.py's head (seed 0 init, fc_cls scaled by 30 so that the negatives'
# scores spread out), random features on 16x16 / 8x8 maps, 40 random proposals per image around the GTs of the same
# batch; every positive and negative is kept (num 512), so nothing is random. mmcv's nms_match is a compiled op the
# oracle lacks: _nms_match_cpu below follows mmcv 1.7.1's CPU kernel (ops/csrc/pytorch/cpu/nms.cpp, nms_match_cpu).
import mmdet.core.bbox.samplers.score_hlr_sampler as hlr_module  # noqa: E402


def _nms_match_cpu(dets, iou_threshold):
    dets = dets.detach().cpu().float()
    x1, y1, x2, y2, scores = dets.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = scores.sort(0, descending=True)[1].tolist()
    suppressed = [False] * dets.size(0)
    groups = []
    for oi, i in enumerate(order):
        if suppressed[i]:
            continue
        group = [i]
        for j in order[oi + 1:]:
            if suppressed[j]:
                continue
            w = max(0.0, min(x2[i], x2[j]) - max(x1[i], x1[j]))
            h = max(0.0, min(y2[i], y2[j]) - max(y1[i], y1[j]))
            inter = torch.as_tensor(w * h, dtype=torch.float32)
            if inter / (areas[i] + areas[j] - inter) >= iou_threshold:
                suppressed[j] = True
                group.append(j)
        groups.append(group)
    return [dets.new_tensor(g, dtype=torch.long) for g in groups]


hlr_module.nms_match = _nms_match_cpu
roi_cfg = Config.fromfile(os.path.join(DIR, 'roi_head_config.py')).roi_head
torch.manual_seed(0)
roi_head = build_head(roi_cfg)
roi_head.init_weights()
with torch.no_grad():
    roi_head.bbox_head.fc_cls.weight.mul_(30)
torch.save(roi_head.state_dict(), os.path.join(DIR, 'pisa_roi_head.pth'))
feats = [torch.randn(2, 8, 16, 16), torch.randn(2, 8, 8, 8)]
proposals = []
for gt in gt_bboxes:
    centre = gt[torch.randint(0, gt.size(0), (40,))]
    jitter = torch.randn(40, 4) * 6
    boxes = (centre + jitter).clamp(0, 64)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 2)
    proposals.append(torch.cat([boxes, torch.rand(40, 1)], 1))
roi_losses = roi_head.forward_train(feats, img_metas, proposals, gt_bboxes, gt_labels)
print({k: float(v) for k, v in roi_losses.items()})
# ISR-N and ISR-P keep the loss sums, so their weights show in the gradient: loss_cls's gradient of fc_cls.weight
roi_losses['loss_cls'].backward()
roi_entries = {'feats': feats, 'proposals': proposals, 'gt_bboxes': list(gt_bboxes), 'gt_labels': list(gt_labels),
               'loss_cls_grad_fc_cls_weight': roi_head.bbox_head.fc_cls.weight.grad}
for k in ('loss_cls', 'acc', 'loss_bbox', 'loss_carl'):
    roi_entries[k] = roi_losses[k].reshape(1)
_fixture.write(os.path.join(DIR, 'pisa_roi_loss.json'), roi_entries)
