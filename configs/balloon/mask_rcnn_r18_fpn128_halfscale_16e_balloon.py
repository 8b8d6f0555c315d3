# The balloon benchmark on a CPU: Mask R-CNN with the ImageNet ResNet-18 from NuGet
# (nuget://resnet18-imagenet), fine-tuned at half MMDetection's image scale with a
# 128-channel FPN and heads and half the RoI samples, for 16 epochs. Balloons are large,
# so the half scale loses little, and an iteration costs a few seconds on 2 cores instead
# of fifteen. The val set is the tutorial's 13 images, untouched.
_base_ = './mask_rcnn_r18_fpn_1x_balloon.py'

model = dict(
    neck=dict(out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=512),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(in_channels=128, conv_out_channels=128)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=256))))

img_norm_cfg = dict(
    mean=[103.063, 115.903, 123.152], std=[1.0, 1.0, 1.0], to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='LoadAnnotations',
        with_bbox=True,
        with_mask=True,
        poly2mask=False),
    dict(
        type='Resize',
        img_scale=[(666, 320), (666, 336), (666, 352), (666, 368), (666, 384),
                   (666, 400)],
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
        img_scale=(666, 400),
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
data = dict(
    workers_per_gpu=1,
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
# The CNTK backbone sees 0..255 inputs (std 1), so early mask logits are large; without
# clipping the first iterations' gradients blow up (NaN at iteration 20 in our first run).
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(
    policy='step',
    warmup='linear',
    warmup_iters=200,
    warmup_ratio=0.001,
    step=[12, 15])
runner = dict(type='EpochBasedRunner', max_epochs=16)
evaluation = dict(interval=4, metric=['bbox', 'segm'])
checkpoint_config = dict(interval=4)
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook')])
