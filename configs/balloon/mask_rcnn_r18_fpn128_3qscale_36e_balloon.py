# The balloon benchmark's one-hour run on 2 CPU cores: the half-scale config at three
# quarters of MMDetection's scale (1000x480-600; medium balloons are what half scale
# misses), lr 0.01 with a 100-iteration warm-up (200 iterations at 32 per epoch spent a
# third of a 16-epoch run warming up, and its training losses were still falling when
# it stopped), and 36 epochs, about 50 minutes at 2.6 s per iteration.
_base_ = './mask_rcnn_r18_fpn128_halfscale_16e_balloon.py'

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
        img_scale=[(1000, 480), (1000, 504), (1000, 528), (1000, 552),
                   (1000, 576), (1000, 600)],
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
        img_scale=(1000, 600),
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
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))

optimizer = dict(lr=0.01)
lr_config = dict(warmup_iters=100, step=[27, 33])
runner = dict(max_epochs=36)
evaluation = dict(interval=6)
checkpoint_config = dict(interval=6)
