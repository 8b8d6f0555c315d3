# RetinaNet (a one-stage detector: MMDetection's SingleStageDetector with a RetinaHead) on the synthetic shapes of
# `detsharp demo`, with the ImageNet ResNet-18 that building DetSharp restores from NuGet (nuget://resnet18-imagenet) and
# a 64-channel FPN and head. Boxes only. Run by hand with the converted dataset at data/demo/{train,val}/, or point
# data.*.ann_file / img_prefix elsewhere with --cfg-options.
_base_ = '../retinanet/retinanet_r50_fpn_1x_coco.py'

classes = ('ellipse', 'triangle', 'square')
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        stage_blocks=(2, 2, 2, 3),
        pad_mode='cntk',
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='nuget://resnet18-imagenet')),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(num_classes=3, in_channels=64, feat_channels=64))

# The network's own preprocessing: BGR pixels in 0..255 minus its mean image's per-channel means.
img_norm_cfg = dict(
    mean=[103.063, 115.903, 123.152], std=[1.0, 1.0, 1.0], to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='Resize',
        img_scale=[(256, 176), (256, 192), (256, 208)],
        multiscale_mode='value',
        keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(256, 192),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='Pad', size_divisor=32),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data_root = 'data/demo/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=1,
    train=dict(
        img_prefix=data_root + 'train/',
        classes=classes,
        ann_file=data_root + 'train/annotation_coco.json',
        pipeline=train_pipeline),
    val=dict(
        img_prefix=data_root + 'val/',
        classes=classes,
        ann_file=data_root + 'val/annotation_coco.json',
        pipeline=test_pipeline),
    test=dict(
        img_prefix=data_root + 'val/',
        classes=classes,
        ann_file=data_root + 'val/annotation_coco.json',
        pipeline=test_pipeline))

# As the Mask R-CNN demo: inputs in 0..255 make the new layers' first gradients large; lr 0.01 with a warm-up and
# clipping at 10 trains smoothly.
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(
    policy='step', warmup='linear', warmup_iters=100, warmup_ratio=0.001, step=[9])
runner = dict(type='EpochBasedRunner', max_epochs=12)
checkpoint_config = dict(interval=1)
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook')])
evaluation = dict(interval=2, metric=['bbox'])
seed = 0
load_from = None
