# The Cascade + AugFPN128 Translate recipe at the MMDetection balloon tutorial's own scales: multi-scale
# training at (1333, 640..800) as in mask_rcnn_r50_caffe_fpn_mstrain-poly_1x, and MMDetection's default
# test scale (1333, 800). The larger images are what the medium balloons need (at 1000x600 a 64-pixel
# balloon of a 2048-pixel photo is 25 pixels); they cost about 1.6x per iteration, so 17 epochs fit the
# hour, with the steps at the same 3/4 and 11/12 proportions.
_base_ = './cascade_mask_rcnn_r18_augfpn128_translate_28e_balloon.py'

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
        type='AutoAugment',
        policies=[
            [dict(
                type='Translate',
                level=5,
                prob=0.5,
                img_fill_val=(124, 116, 104))],
        ]),
    dict(
        type='Resize',
        img_scale=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                   (1333, 768), (1333, 800)],
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
        img_scale=(1333, 800),
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

lr_config = dict(step=[12, 15])
runner = dict(max_epochs=17)
evaluation = dict(interval=6)
checkpoint_config = dict(interval=6)
