#!/usr/bin/python3
"""SSD300 and SSDLite reference numbers from MMDetection 2.28.2 (the local oracle at /work/oracle; this script imports
mmdet from there and is not part of DetSharp's runtime). Writes ssd300_hashed.json and ssdlite_hashed.json into the
given folder (tests/fixtures/mmdet-2.28/ssd/).

Weights and input come from a counter hash, not from torch's RNG, so DetSharp's test rebuilds them exactly without a
100 MB checkpoint: value = (2u - 1) * bound in float64, cast to float32, where u = splitmix64((k << 32) + i) >> 11
divided by 2^53, k the parameter's index in state_dict order (the input uses k = 1000), i the flat element index.
bound: sqrt(6 / fan_in) for conv weights, 0.1 for biases; l2_norm.weight is 20 + 10 (2u - 1); BatchNorm weights
1 + 0.25 (2u - 1) and running variances 1.5 + 0.5 (2u - 1) (so that float32 rounding stays near 1e-5 through
MobileNetV2), running means and biases 0.1 (2u - 1); integer buffers (num_batches_tracked) are left as they are but still count in k; the input 2 (so the logits stay near 1).

Usage: /usr/bin/python3 tools/oracle/ssd.py tests/fixtures/mmdet-2.28/ssd
"""
import json
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def hashed_uniform(k, n):
    with np.errstate(over='ignore'):
        x = (np.uint64(k) << np.uint64(32)) + np.arange(n, dtype=np.uint64)
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


def hashed(k, shape, bound, offset=0.0):
    n = int(np.prod(shape))
    v = offset + (2 * hashed_uniform(k, n) - 1) * bound
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill_weights(model):
    sd = model.state_dict()
    for k, (name, t) in enumerate(sd.items()):
        if not t.is_floating_point():
            continue
        if name.endswith('l2_norm.weight'):
            v = hashed(k, t.shape, 10.0, 20.0)
        elif name.endswith('bn.weight'):
            v = hashed(k, t.shape, 0.25, 1.0)
        elif name.endswith('running_var'):
            v = hashed(k, t.shape, 0.5, 1.5)
        elif t.dim() == 4:
            v = hashed(k, t.shape, float(np.sqrt(6.0 / (t.shape[1] * t.shape[2] * t.shape[3]))))
        else:
            v = hashed(k, t.shape, 0.1)
        t.copy_(v)


def flat_samples(t, count=24):
    f = t.reshape(-1)
    idx = np.linspace(0, f.numel() - 1, count).astype(np.int64).tolist()
    return {'index': idx, 'value': [float(f[i]) for i in idx]}


def run(config, size, out):
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.score_thr = 0.0
    model = build_detector(cfg.model)
    model.init_weights()
    with torch.no_grad():
        fill_weights(model)
    model.eval()
    img = hashed(1000, (2, 3, size, size), 2.0)
    metas = [dict(img_shape=(size, size, 3), ori_shape=(size, size, 3), pad_shape=(size, size, 3),
                  scale_factor=np.array([1, 1, 1, 1], dtype=np.float32), flip=False, batch_input_shape=(size, size))
             for _ in range(2)]
    gt_bboxes = [torch.tensor([[20.0, 30.0, 120.5, 160.0], [150.0, 40.0, 290.0, 280.0], [60.0, 200.0, 100.0, 240.0]]),
                 torch.tensor([[0.0, 0.0, 299.0, 299.0], [100.0, 100.0, 130.0, 115.0]])]
    gt_labels = [torch.tensor([3, 17, 3]), torch.tensor([0, 79])]
    head = model.bbox_head
    with torch.no_grad():
        feats = model.extract_feat(img)
        cls_scores, bbox_preds = head(feats)
        losses = head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, metas)
        anchors = head.prior_generator.grid_priors([f.shape[-2:] for f in cls_scores], device='cpu')
        flat = torch.cat(anchors)
        deltas = torch.cat([b[0].permute(1, 2, 0).reshape(-1, 4) for b in bbox_preds])
        decoded = head.bbox_coder.decode(flat, deltas, max_shape=(size, size))
        dets = head.get_bboxes(cls_scores, bbox_preds, img_metas=metas, rescale=False)
    result = {
        'config': config.replace('/work/oracle/mmdetection/', '') + ' (backbone init_cfg None, test_cfg.score_thr 0.0)',
        'input_size': size,
        'gt_bboxes': [b.tolist() for b in gt_bboxes], 'gt_labels': [l.tolist() for l in gt_labels],
        'features': [{'shape': list(f.shape), 'sum': float(f.double().sum()), 'abs_sum': float(f.double().abs().sum()),
                      'samples': flat_samples(f)} for f in feats],
        'cls_scores': [{'shape': list(c.shape), 'sum': float(c.double().sum()), 'abs_sum': float(c.double().abs().sum()),
                        'samples': flat_samples(c)} for c in cls_scores],
        'bbox_preds': [{'shape': list(b.shape), 'sum': float(b.double().sum()), 'abs_sum': float(b.double().abs().sum()),
                        'samples': flat_samples(b)} for b in bbox_preds],
        'anchors': [{'count': a.shape[0], 'first': a[:8].tolist(), 'last': a[-1].tolist(), 'sum': float(a.double().sum())}
                    for a in anchors],
        'num_base_anchors': head.prior_generator.num_base_priors,
        'base_anchors': [b.tolist() for b in head.prior_generator.base_anchors],
        'decoded_image0': {'count': decoded.shape[0], 'sum': float(decoded.double().sum()), 'samples': flat_samples(decoded, 40)},
        'losses': {k: [float(x) for x in v] for k, v in losses.items()},
        'detections': [{'bboxes': d[0].tolist(), 'labels': d[1].tolist()} for d in dets],
    }
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print({k: v for k, v in result['losses'].items()}, [len(d['labels']) for d in result['detections']])


def main(out_dir):
    root = '/work/oracle/mmdetection/configs/ssd/'
    run(root + 'ssd300_coco.py', 300, out_dir + '/ssd300_hashed.json')
    run(root + 'ssdlite_mobilenetv2_scratch_600e_coco.py', 320, out_dir + '/ssdlite_hashed.json')


if __name__ == '__main__':
    main(sys.argv[1])
