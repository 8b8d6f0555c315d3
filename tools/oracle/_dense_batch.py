"""Shared by tools/oracle/free_anchor.py and pisa.py (our own code): the fixed batch their head losses run on — two
64x64 images, random logits / deltas on the 8x8 and 4x4 maps of a 9-anchor, 3-class head, and GT boxes with
irregular coordinates (so that no two anchors tie in IoU at a top-k or rank boundary)."""
import torch

IMG = 64
SIZES = [(8, 8), (4, 4)]
A, C = 9, 3


def make_batch(seed=0):
    torch.manual_seed(seed)
    cls_scores = [torch.randn(2, A * C, h, w) * 1.5 - 1.0 for h, w in SIZES]
    bbox_preds = [torch.randn(2, A * 4, h, w) * 0.3 for h, w in SIZES]
    gt_bboxes = [torch.tensor([[5.3, 7.1, 37.9, 41.7], [30.2, 22.6, 61.4, 60.3]]),
                 torch.tensor([[2.7, 3.9, 22.1, 28.4], [18.6, 15.2, 57.3, 50.9], [40.1, 4.4, 63.2, 33.8]])]
    gt_labels = [torch.tensor([0, 2]), torch.tensor([1, 1, 0])]
    img_metas = [dict(img_shape=(IMG, IMG, 3), pad_shape=(IMG, IMG, 3), ori_shape=(IMG, IMG, 3),
                      scale_factor=[1.0, 1.0, 1.0, 1.0], batch_input_shape=(IMG, IMG)) for _ in range(2)]
    return cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas


def batch_entries(cls_scores, bbox_preds, gt_bboxes, gt_labels):
    return {'cls_scores': list(cls_scores), 'bbox_preds': list(bbox_preds), 'gt_bboxes': list(gt_bboxes),
            'gt_labels': list(gt_labels), 'img_size': 64}
