# YOLOX (YOLOXPAFPN + YOLOXHead with SimOTA) on the ImageNet ResNet-18 from NuGet, the one pretrained backbone reachable
# offline, for the synthetic shapes of `detsharp demo`. Boxes only. A from-scratch CSPDarknet (yolox_tiny_demo.py) needs
# YOLOX's long recipe; pretrained features make a few minutes enough, as for the demo's Mask R-CNN.
_base_ = './yolox_tiny_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        stage_blocks=(2, 2, 2, 3),
        pad_mode='cntk',
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='nuget://resnet18-imagenet')),
    neck=dict(in_channels=[128, 256, 512]))

# The network's own preprocessing: BGR pixels minus the ImageNet mean image's channel means; the 114 padding becomes ~0.
img_norm_cfg = dict(mean=[103.063, 115.903, 123.152], std=[1.0, 1.0, 1.0], to_rgb=False)
img_scale = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=114.0)),
    dict(type='Normalize', **img_norm_cfg),
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
            dict(type='Normalize', **img_norm_cfg),
            dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
# No gradient clipping (YOLOX's own grad_clip=None; the RetinaNet demo's max_norm 10 held YOLOX's sum-reduced losses, with
# gradient norms of 20-300, to a crawl) and twice the RetinaNet demo's lr.
optimizer = dict(lr=0.02)
optimizer_config = dict(_delete_=True, grad_clip=None)
