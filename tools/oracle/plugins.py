"""Makes tests/fixtures/mmdet-2.28/plugins/: mmcv 1.7.1's plugin layers (ContextBlock, GeneralizedAttention, NonLocal2d)
alone and inside slim ResNet-family backbones, and a slim Faster R-CNN R-50 + GCB (ContextBlock) detector on one balloon
image, all with fixed weights, and what MMDetection 2.28.2 computes with them.

Our own generator script (not upstream code): it imports MMDetection 2.28.2 + mmcv 1.7.1 from /work/oracle (the local
reference of ../shared/docs/oracle.md; oracle_env maps mmcv's nms to torchvision's CPU kernel). Not part of the build
or the tests. The folder's README.md says what each file holds.
Usage: /usr/bin/python3 tools/oracle/plugins.py [OUT_DIR]
"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must precede mmcv)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmcv import Config  # noqa: E402
from mmcv.cnn import build_plugin_layer  # noqa: E402
from mmcv.cnn.utils import revert_sync_batchnorm  # noqa: E402
from mmcv.parallel import collate  # noqa: E402
from mmcv.runner import save_checkpoint  # noqa: E402
from mmdet.datasets.pipelines import Compose  # noqa: E402
from mmdet.models import build_backbone, build_detector  # noqa: E402

ZOO = '/work/shared/mmdet-configs-2.28'
DATA = '/work/shared/datasets/balloon'
TEST_IMAGE = '24631331976_defa3bb61f_k.jpg'
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
SAMPLES = 32
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'plugins')

# name -> (plugin cfg, in_channels, input shape)
LAYERS = {
    'gcb_att_add': (dict(type='ContextBlock', ratio=1. / 4), 16, (2, 16, 7, 9)),
    'gcb_avg_add_mul': (dict(type='ContextBlock', ratio=1. / 4, pooling_type='avg',
                             fusion_types=('channel_add', 'channel_mul')), 16, (2, 16, 7, 9)),
    'gcb_att_mul': (dict(type='ContextBlock', ratio=0.5, fusion_types=('channel_mul',)), 16, (2, 16, 6, 5)),
    'gen_att_1111': (dict(type='GeneralizedAttention', num_heads=4, kv_stride=2, attention_type='1111'), 16, (2, 16, 7, 9)),
    'gen_att_0010': (dict(type='GeneralizedAttention', num_heads=4, kv_stride=2, attention_type='0010'), 16, (2, 16, 7, 9)),
    'gen_att_0100_q2': (dict(type='GeneralizedAttention', num_heads=2, kv_stride=1, q_stride=2, position_embedding_dim=8,
                             position_magnitude=2, attention_type='0100'), 16, (2, 16, 8, 8)),
    'gen_att_0011': (dict(type='GeneralizedAttention', num_heads=4, kv_stride=2, attention_type='0011'), 16, (2, 16, 6, 8)),
    'gen_att_1001': (dict(type='GeneralizedAttention', num_heads=8, kv_stride=1, attention_type='1001'), 16, (1, 16, 5, 6)),
    'gen_att_range': (dict(type='GeneralizedAttention', num_heads=8, kv_stride=2, spatial_range=2, attention_type='1111'),
                      256, (1, 256, 9, 10)),
    'nonlocal_embedded': (dict(type='NonLocal2d'), 16, (2, 16, 7, 9)),
    'nonlocal_embedded_sub': (dict(type='NonLocal2d', reduction=4, use_scale=False, sub_sample=True), 16, (2, 16, 8, 10)),
    'nonlocal_dot': (dict(type='NonLocal2d', mode='dot_product'), 16, (2, 16, 7, 9)),
    'nonlocal_gaussian': (dict(type='NonLocal2d', mode='gaussian'), 16, (2, 16, 7, 9)),
    'nonlocal_gaussian_sub': (dict(type='NonLocal2d', mode='gaussian', sub_sample=True), 16, (2, 16, 8, 10)),
    'nonlocal_concat_bn': (dict(type='NonLocal2d', mode='concatenation', norm_cfg=dict(type='BN')), 16, (2, 16, 5, 6)),
}

# The state dict keeps local_constraint_map (12 MB for 256 channels) out; the test builds it and compares its sum.
NOT_SAVED = ('local_constraint_map',)

BACKBONES = {
    'resnet50_mixed_plugins': dict(
        type='ResNet', depth=50, base_channels=8, out_indices=(0, 1, 2, 3), norm_eval=True, style='pytorch', plugins=[
            dict(cfg=dict(type='ContextBlock', ratio=1. / 4), stages=(False, True, True, True), position='after_conv3'),
            dict(cfg=dict(type='GeneralizedAttention', num_heads=4, kv_stride=2, attention_type='0010'),
                 stages=(False, False, True, True), position='after_conv2'),
            dict(cfg=dict(type='NonLocal2d', postfix='_a'), stages=(True, False, False, True), position='after_conv1'),
            dict(cfg=dict(type='NonLocal2d', use_scale=False, postfix='_b'), position='after_conv1')]),
    'resnext50_gcb_conv2': dict(
        type='ResNeXt', depth=50, groups=4, base_width=2, base_channels=8, out_indices=(0, 1, 2, 3), norm_eval=True,
        style='pytorch', plugins=[
            dict(cfg=dict(type='ContextBlock', ratio=1. / 4, fusion_types=('channel_mul',)),
                 stages=(True, True, False, True), position='after_conv2')]),
}

DETECTOR = 'faster_rcnn_r50_gcb'


def randomize(module, g):
    """Every parameter and BN statistic away from its init: the plugins' zero-initialised last layers and gamma would
    make them the identity and prove nothing. Conv/linear weights N(0, 1/fan_in), biases N(0, 0.1²), norm weights
    1 + N(0, 0.1²), BN running_mean N(0, 0.1²), running_var 1 + U(0, 0.5), other parameters (GeneralizedAttention's
    appr_bias, geom_bias, gamma) N(0, 0.5²); in named_parameters order, then the BN statistics in module order."""
    for name, p in module.named_parameters():
        leaf = name.rsplit('.', 1)[-1]
        owner = module.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else module
        if p.dtype != torch.float32:
            continue
        if isinstance(owner, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)):
            val = 1 + torch.randn(p.shape, generator=g) * 0.1 if leaf == 'weight' else torch.randn(p.shape, generator=g) * 0.1
        elif leaf == 'weight':
            val = torch.randn(p.shape, generator=g) * (1.0 / p[0].numel()) ** 0.5
        elif leaf == 'bias':
            val = torch.randn(p.shape, generator=g) * 0.1
        else:
            val = torch.randn(p.shape, generator=g) * 0.5
        p.data.copy_(val)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(1 + torch.rand(m.num_features, generator=g) * 0.5)


def f(x):
    return float(f'{float(x):.9g}')


def describe(t):
    flat = t.reshape(-1).double()
    n = flat.numel()
    idx = [(i * (n - 1)) // (SAMPLES - 1) for i in range(SAMPLES)]
    return dict(shape=list(t.shape), sum=float(flat.sum()), abs_sum=float(flat.abs().sum()),
                samples=[[i, float(flat[i])] for i in idx])


def rows(t):
    return [[f(v) for v in r] for r in t.reshape(t.shape[0], -1).tolist()]


def make_layers(out):
    records, inputs = {}, {}
    for k, (name, (cfg, in_channels, shape)) in enumerate(LAYERS.items()):
        torch.manual_seed(k)
        layer_name, layer = build_plugin_layer(dict(cfg), in_channels=in_channels)
        g = torch.Generator().manual_seed(100 + k)
        randomize(layer, g)
        layer.eval()
        x = torch.randn(shape, generator=g)
        with torch.no_grad():
            y = layer(x)
        sd = {key: v for key, v in layer.state_dict().items() if key not in NOT_SAVED}
        torch.save({'state_dict': sd}, os.path.join(out, name + '.pth'))
        inputs[name] = x
        rec = dict(config_py='plugin = ' + repr(cfg), in_channels=in_channels, name=layer_name, output=describe(y))
        if hasattr(layer, 'local_constraint_map'):
            m = layer.local_constraint_map
            rec['local_constraint_map'] = dict(shape=list(m.shape), sum=int(m.long().sum()))
        records[name] = rec
        print(name, layer_name, tuple(y.shape), rec['output']['sum'])
    torch.save(inputs, os.path.join(out, 'layer_inputs.pth'))
    with open(os.path.join(out, 'layers.json'), 'w') as fh:
        json.dump(records, fh, indent=1)


def make_backbones(out):
    records = {}
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 80)
    torch.save({'input': x}, os.path.join(out, 'backbone_input.pth'))
    for k, (name, cfg) in enumerate(BACKBONES.items()):
        torch.manual_seed(1)
        model = build_backbone(dict(cfg))
        model.init_weights()
        randomize(model, torch.Generator().manual_seed(200 + k))
        model.eval()
        with torch.no_grad():
            outs = model(x)
        torch.save({'state_dict': model.state_dict()}, os.path.join(out, name + '.pth'))
        records[name] = dict(config_py='backbone = ' + repr(cfg), outputs=[describe(o) for o in outs])
        print(name, sum(p.numel() for p in model.parameters()), [tuple(o.shape) for o in outs])
    with open(os.path.join(out, 'backbones.json'), 'w') as fh:
        json.dump(records, fh, indent=1)


def detector_cfg():
    """faster_rcnn_r50_fpn_1x_coco with the backbone of gcnet/mask_rcnn_r50_fpn_syncbn-backbone_r16_gcb_c3-c5_1x_coco
    (SyncBN, norm_eval=False, ContextBlock ratio 1/16 after conv3 of stages 2-4), slimmed."""
    cfg = Config.fromfile(f'{ZOO}/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py')
    m = cfg.model
    m.backbone.update(norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False, plugins=[
        dict(cfg=dict(type='ContextBlock', ratio=1. / 16), stages=(False, True, True, True), position='after_conv3')])
    m.backbone.update(base_channels=8, init_cfg=None)
    m.neck.update(in_channels=[32, 64, 128, 256], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    m.roi_head.bbox_roi_extractor.update(out_channels=32)
    m.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64, num_classes=3)
    return cfg


def make_detector(out):
    cfg = detector_cfg()
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    g = torch.Generator().manual_seed(1)
    randomize(model.backbone, g)
    # The heads keep MMDetection's init except the predictors, widened so that scores spread out.
    for mod in (model.rpn_head.rpn_cls, model.roi_head.bbox_head.fc_cls):
        mod.weight.data.copy_(torch.randn(mod.weight.shape, generator=g) * 0.02)
        mod.bias.data.copy_(torch.randn(mod.bias.shape, generator=g) * 0.5)
    model = revert_sync_batchnorm(model)  # one process: SyncBN is BN (same keys); CPU eval needs the plain module
    model.eval()
    model.CLASSES = ('a', 'b', 'c')
    save_checkpoint(model, f'{out}/{DETECTOR}.pth')
    with open(f'{out}/{DETECTOR}.model_config.py', 'w') as fh:
        fh.write(Config(dict(model=cfg.model)).pretty_text)

    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=(1333, 800), flip=False, transforms=[
            dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
            dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])])
    data = collate([pipeline(dict(img_info=dict(filename=TEST_IMAGE), img_prefix=f'{DATA}/val/'))], samples_per_gpu=1)
    img = data['img'][0]
    metas = data['img_metas'][0].data[0]
    meta = metas[0]
    rec = dict(file_name=TEST_IMAGE, img_shape=list(meta['img_shape']), pad_shape=list(meta['pad_shape']),
               scale_factor=[f(v) for v in meta['scale_factor']], input_shape=list(img.shape),
               input_channel_sums=img[0].double().sum(dim=(1, 2)).tolist())
    with torch.no_grad():
        feats = model.extract_feat(img)
        rec['backbone_outputs'] = [describe(t) for t in model.backbone(img)]
        rec['neck_outputs'] = [describe(t) for t in feats]
        proposals = model.rpn_head.simple_test_rpn(feats, metas)[0]
        rec['num_proposals'] = int(proposals.shape[0])
        rec['proposals'] = rows(proposals)
        det_bboxes, det_labels = model.roi_head.simple_test_bboxes(feats, metas, [proposals], model.roi_head.test_cfg,
                                                                    rescale=True)
        rec['detections'] = rows(torch.cat([det_bboxes[0], det_labels[0][:, None].float()], 1))
        result = model.simple_test(img, metas, rescale=True)[0]
        rec['bbox_results_count'] = [int(r.shape[0]) for r in result]
    with open(f'{out}/{DETECTOR}.outputs.json', 'w') as fh:
        json.dump(rec, fh, indent=1)
    d = rec['detections']
    print(DETECTOR, 'proposals', rec['num_proposals'], 'detections', len(d), 'scores', [r[4] for r in d[:5]], '...',
          [r[4] for r in d[-3:]])


if __name__ == '__main__':
    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else OUT
    os.makedirs(out, exist_ok=True)
    make_layers(out)
    make_backbones(out)
    make_detector(out)
