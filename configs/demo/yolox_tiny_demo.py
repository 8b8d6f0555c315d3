# YOLOX-tiny scaled down (CSPDarknet deepen 0.33, widen 0.25; a 64-channel YOLOXPAFPN and YOLOXHead), trained from
# scratch on the synthetic shapes of `detsharp demo`. Boxes only. YOLOX's own recipe (Mosaic, MixUp, RandomAffine, the
# 'yolox' LR policy, EMA, mode switch) is not used here: a plain pipeline (resize, flip, pad to a square with 114, raw
# BGR pixels as YOLOX takes them) and the RetinaNet demo's data and step schedule (retinanet_r18_fpn64_imagenet_demo.py).
# From scratch it does not learn in a demo's minutes (bbox mAP 0.000-0.004); yolox_r18_imagenet_demo.py, the same neck
# and head on the ImageNet ResNet-18 without gradient clipping, does.
_base_ = './retinanet_r18_fpn64_imagenet_demo.py'

img_scale = (256, 256)  # height, width
model = dict(
    _delete_=True,
    type='YOLOX',
    input_size=img_scale,
    # Multi-scale training inside the model: every 10 iterations a new size of 32 * (6..10) pixels.
    random_size_range=(6, 10),
    random_size_interval=10,
    backbone=dict(type='CSPDarknet', deepen_factor=0.33, widen_factor=0.25),
    neck=dict(type='YOLOXPAFPN', in_channels=[64, 128, 256], out_channels=64, num_csp_blocks=1),
    bbox_head=dict(type='YOLOXHead', num_classes=3, in_channels=64, feat_channels=64),
    train_cfg=dict(assigner=dict(type='SimOTAAssigner', center_radius=2.5)),
    test_cfg=dict(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.65)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=114.0)),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=img_scale,
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Pad', pad_to_square=True, pad_val=dict(img=114.0)),
            dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=4,
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
# YOLOX's optimizer: SGD with Nesterov momentum, no weight decay on norms and biases.
optimizer = dict(
    type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True,
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
