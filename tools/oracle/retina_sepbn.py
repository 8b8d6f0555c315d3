"""Oracle fixture for RetinaSepBNHead (our own script; it imports MMDetection 2.28.2 from /work/oracle, see
../shared/docs/oracle.md). Builds the slim head of tests/fixtures/mmdet-2.28/retina_sepbn/head_config.py (seed 0,
MMDetection's init_weights, then each level's BN affine and running statistics drawn apart with seed 1 so that the
levels differ), runs it on random features of the fixed batch of _dense_batch.py (two 64x64 images, levels 8x8 and
4x4, 8 channels, seed 2) and writes:
  weights.pth        the head's state_dict (every level's keys, the shared convs under each, as MMDetection saves it)
  outputs.json       features; train-mode outputs (batch statistics), their loss_cls / loss_bbox on the batch's GTs,
                     the gradients of the shared tower convs and of level 1's BN weight after (loss_cls + loss_bbox)
                     .backward(), each level's BN running mean after that forward; eval-mode outputs (running
                     statistics of weights.pth)
Run: /usr/bin/python3 tools/oracle/retina_sepbn.py   (from the repository root)"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.models import build_head  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _dense_batch  # noqa: E402
import _fixture  # noqa: E402

DIR = os.path.join(os.path.dirname(__file__), '../../tests/fixtures/mmdet-2.28/retina_sepbn')
cfg = Config.fromfile(os.path.join(DIR, 'head_config.py')).head
torch.manual_seed(0)
head = build_head(cfg)
head.init_weights()
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for convs in (head.cls_convs, head.reg_convs):
        for level in convs:
            for m in level:
                n = m.bn.num_features
                m.bn.weight.copy_(1 + torch.randn(n, generator=g) * 0.2)
                m.bn.bias.copy_(torch.randn(n, generator=g) * 0.2)
                m.bn.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.bn.running_var.copy_(1 + torch.rand(n, generator=g) * 0.5)
    # the N(0, 0.01) convs would leave every logit near the prior: Kaiming-sized predictors spread the scores out
    head.retina_cls.weight.normal_(0, 0.2, generator=g)
    head.retina_reg.weight.normal_(0, 0.2, generator=g)
assert head.cls_convs[1][0].conv is head.cls_convs[0][0].conv
torch.save(head.state_dict(), os.path.join(DIR, 'weights.pth'))

_, _, gt_bboxes, gt_labels, img_metas = _dense_batch.make_batch()
torch.manual_seed(2)
feats = [torch.randn(2, 8, h, w) for h, w in _dense_batch.SIZES]
entries = {'feats': feats, 'gt_bboxes': list(gt_bboxes), 'gt_labels': list(gt_labels)}

head.train()
cls_scores, bbox_preds = head(feats)
losses = head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)
loss_cls, loss_bbox = sum(losses['loss_cls']), sum(losses['loss_bbox'])
(loss_cls + loss_bbox).backward()
entries.update({
    'train_cls_scores': [t.detach() for t in cls_scores], 'train_bbox_preds': [t.detach() for t in bbox_preds],
    'loss_cls': loss_cls.reshape(1), 'loss_bbox': loss_bbox.reshape(1),
    'grad_cls_conv0': head.cls_convs[0][0].conv.weight.grad, 'grad_reg_conv1': head.reg_convs[0][1].conv.weight.grad,
    'grad_cls_bn0_level1': head.cls_convs[1][0].bn.weight.grad,
    'running_mean_cls0': [head.cls_convs[i][0].bn.running_mean.clone() for i in range(2)],
})
head.load_state_dict(torch.load(os.path.join(DIR, 'weights.pth')))
head.eval()
with torch.no_grad():
    cls_scores, bbox_preds = head(feats)
entries.update({'eval_cls_scores': list(cls_scores), 'eval_bbox_preds': list(bbox_preds)})
print({'loss_cls': float(loss_cls), 'loss_bbox': float(loss_bbox)},
      'parameters', sum(1 for _ in head.parameters()), 'state_dict keys', len(head.state_dict()))
_fixture.write(os.path.join(DIR, 'outputs.json'), entries)
