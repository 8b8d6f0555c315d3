"""Oracle fixture for soft-NMS: mmcv 1.7.1's soft_nms runs in its compiled CPU op (softnms_cpu in
mmcv/ops/csrc/pytorch/cpu/nms.cpp), which the local oracle (/work/oracle, see ../shared/docs/oracle.md) does not build.
So this script (our own code) transcribes that kernel line by line in float32 (`softnms_cpu` below), checks the
transcription against hand-calculated cases, installs it as mmcv.ops.nms.soft_nms, and runs MMDetection 2.28.2's own
batched_nms and multiclass_nms (imported from /work/oracle) on a fixed random input. Writes
tests/fixtures/mmdet-2.28/soft_nms/soft_nms.json.
Run: /usr/bin/python3 tools/oracle/soft_nms.py   (from the repository root)"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmcv
import torch  # noqa: E402
import mmcv.ops  # noqa: E402
from mmdet.core.post_processing import multiclass_nms  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import _fixture  # noqa: E402

mmcv_nms = sys.modules['mmcv.ops.nms']  # the module (mmcv.ops.nms is also the name of its nms function)

f32 = np.float32
np.seterr(invalid='ignore')  # 0 / 0 IoU of empty boxes is NaN, as in the C++ kernel (its weight stays 1)


def softnms_cpu(boxes, scores, iou_threshold, sigma, min_score, method, offset):
    """mmcv's softnms_cpu: selection by max score (first on ties), swap, rescore later boxes, drop below min_score."""
    b = np.array(boxes, dtype=f32).reshape(-1, 4)
    x1, y1, x2, y2 = (b[:, k].copy() for k in range(4))
    sc = np.array(scores, dtype=f32).copy()
    off = f32(offset)
    areas = (x2 - x1 + off) * (y2 - y1 + off)
    n = len(sc)
    inds = list(range(n))
    dets = np.zeros((n, 5), dtype=f32)
    thr, sig, mins = f32(iou_threshold), f32(sigma), f32(min_score)
    i = 0
    while i < n:
        max_pos = i
        for pos in range(i + 1, n):
            if sc[max_pos] < sc[pos]:
                max_pos = pos
        dets[i] = (x1[max_pos], y1[max_pos], x2[max_pos], y2[max_pos], sc[max_pos])
        for arr in (x1, y1, x2, y2, sc, areas):
            arr[i], arr[max_pos] = arr[max_pos], arr[i]
        inds[i], inds[max_pos] = inds[max_pos], inds[i]
        ix1, iy1, ix2, iy2, iarea = x1[i], y1[i], x2[i], y2[i], areas[i]
        pos = i + 1
        while pos < n:
            w = max(f32(0), f32(min(ix2, x2[pos]) - max(ix1, x1[pos]) + off))
            h = max(f32(0), f32(min(iy2, y2[pos]) - max(iy1, y1[pos]) + off))
            inter = f32(w * h)
            ovr = f32(inter / f32(iarea + areas[pos] - inter))
            weight = f32(1)
            if method == 0:
                if ovr >= thr:
                    weight = f32(0)
            elif method == 1:
                if ovr >= thr:
                    weight = f32(1) - ovr
            else:
                weight = f32(math.exp(float(f32(-(ovr * ovr)) / sig)))
            sc[pos] = f32(sc[pos] * weight)
            if sc[pos] < mins:
                for arr in (x1, y1, x2, y2, sc, areas):
                    arr[pos] = arr[n - 1]
                inds[pos] = inds[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return dets[:n], inds[:n]


def soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, min_score=1e-3, method='linear', offset=0):
    """mmcv.ops.soft_nms's Python wrapper over the transcribed kernel (torch tensors in and out)."""
    m = {'naive': 0, 'linear': 1, 'gaussian': 2}[method]
    dets, inds = softnms_cpu(boxes.detach().cpu().numpy(), scores.detach().cpu().numpy(), iou_threshold, sigma, min_score, m, offset)
    return torch.from_numpy(dets), torch.tensor(inds, dtype=torch.long)


# Hand-calculated checks of the transcription.
# Two boxes, IoU = 50 / 100 = 0.5: linear (thr 0.3) rescales 0.8 by 1 - 0.5; gaussian by exp(-0.25 / 0.5);
# naive drops it (score 0 < min_score).
two_b = [[0, 0, 10, 10], [0, 0, 10, 5]]
two_s = [0.9, 0.8]
d, k = softnms_cpu(two_b, two_s, 0.3, 0.5, 1e-3, 1, 0)
assert k == [0, 1] and abs(d[1, 4] - 0.4) < 1e-7, d
d, k = softnms_cpu(two_b, two_s, 0.3, 0.5, 1e-3, 2, 0)
assert k == [0, 1] and abs(d[1, 4] - 0.8 * math.exp(-0.5)) < 1e-7, d
d, k = softnms_cpu(two_b, two_s, 0.3, 0.5, 1e-3, 0, 0)
assert k == [0], d
# Below the threshold, linear keeps the score; the lower box is selected first when it scores higher.
d, k = softnms_cpu(two_b, [0.7, 0.8], 0.6, 0.5, 1e-3, 1, 0)
assert k == [1, 0] and abs(d[1, 4] - 0.7) < 1e-7, d
# mmcv's docstring example: 5 of 6 kept (the score-0 box falls below min_score).
doc_b = [[4., 3., 5., 3.], [4., 3., 5., 4.], [3., 1., 3., 1.], [3., 1., 3., 1.], [3., 1., 3., 1.], [3., 1., 3., 1.]]
doc_s = [0.9, 0.9, 0.5, 0.5, 0.4, 0.0]
d, k = softnms_cpu(doc_b, doc_s, 0.6, 0.5, 1e-3, 1, 0)
assert len(k) == 5, k

mmcv_nms.soft_nms = soft_nms  # batched_nms looks the op up by name in this module

g = torch.Generator().manual_seed(0)
n, c = 40, 3
xy = torch.rand(n, 2, generator=g) * 60
wh = torch.rand(n, 2, generator=g) * 40 + 5
boxes = torch.cat([xy, xy + wh], 1)
scores = torch.rand(n, generator=g)
idxs = torch.randint(0, c, (n,), generator=g)
out = {'boxes': boxes, 'scores': scores, 'idxs': idxs.float()}
cases = {
    'linear': dict(type='soft_nms', iou_threshold=0.3, min_score=0.05),
    'gaussian': dict(type='soft_nms', iou_threshold=0.5, method='gaussian', sigma=0.5, min_score=0.05),
    'naive': dict(type='soft_nms', iou_threshold=0.3, method='naive'),
    'linear_offset1': dict(type='soft_nms', iou_threshold=0.3, offset=1),
    'gaussian_split': dict(type='soft_nms', iou_threshold=0.5, method='gaussian', min_score=0.05, split_thr=10, max_num=20),
}
for name, cfg in cases.items():
    dets, keep = mmcv_nms.batched_nms(boxes, scores, idxs, cfg)
    out[f'batched.{name}.dets'] = dets
    out[f'batched.{name}.keep'] = keep.float()

# multiclass_nms as faster_rcnn_r50_fpn_soft_nms_1x_coco's test_cfg.rcnn uses it (per-class boxes, background last).
mb = torch.cat([boxes + torch.rand(n, 4, generator=g) * 4 for _ in range(c)], 1)
ms = torch.softmax(torch.randn(n, c + 1, generator=g) * 2, 1)
det, lab = multiclass_nms(mb, ms, 0.05, dict(type='soft_nms', iou_threshold=0.5), 30)
out.update({'multi.bboxes': mb, 'multi.scores': ms, 'multi.dets': det, 'multi.labels': lab.float()})

path = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'soft_nms', 'soft_nms.json')
_fixture.write(path, out)
print({k: tuple(v.shape) for k, v in out.items() if hasattr(v, 'shape')})
