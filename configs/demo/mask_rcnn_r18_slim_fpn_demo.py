# The `detsharp demo` model: the slim balloon Mask R-CNN (ResNet-18 with 16 base channels, 32-channel FPN and
# heads, trained from scratch) on the synthetic shapes dataset that `detsharp demo` generates
# (src/DetSharp.Cli/Demo/SyntheticShapes.cs: 256x192 images, classes ellipse/triangle/square, VIA 2.x
# converted to COCO). `detsharp demo` overrides the data paths and fits max_epochs / lr steps to --minutes;
# run by hand, put the converted dataset at data/demo/{train,val}/annotation_coco.json.
_base_ = '../balloon/mask_rcnn_r18_slim_fpn_balloon.py'

classes = ('ellipse', 'triangle', 'square')
model = dict(
    # Trained from scratch: every stage trains, with GroupNorm (the balloon slim config freezes the stem and
    # keeps BN in eval mode, which suits pretrained weights only; batch-2 BN in train mode is noisy).
    backbone=dict(
        frozen_stages=-1, norm_eval=False,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
    roi_head=dict(
        bbox_head=dict(num_classes=3),
        mask_head=dict(num_classes=3)))

img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(
        type='Resize',
        img_scale=[(256, 176), (256, 192), (256, 208)],
        multiscale_mode='value',
        keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
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

optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
# From scratch at batch 2 the losses can blow up without clipping (a run at lr 0.02 diverged in epoch 5).
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(
    policy='step', warmup='linear', warmup_iters=50, warmup_ratio=0.001, step=[9])
runner = dict(type='EpochBasedRunner', max_epochs=12)
checkpoint_config = dict(interval=1)
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook')])
evaluation = dict(interval=2, metric=['bbox', 'segm'])
seed = 0
load_from = None
