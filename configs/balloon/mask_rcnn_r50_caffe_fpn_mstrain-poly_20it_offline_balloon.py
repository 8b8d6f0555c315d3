# The balloon tutorial config set up for a short offline CPU run, exactly as the
# reference run behind ../../shared/fixtures/mmdet/configs/balloon_*: no pretrained
# weights, halved image scales, 20 iterations with checkpoint and bbox/segm
# evaluation at iteration 20.
_base_ = './mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py'

model = dict(backbone=dict(init_cfg=None))

img_norm_cfg = dict(
    mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0], to_rgb=False)
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
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
evaluation = dict(interval=20)

# short iteration-based schedule
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=20)
checkpoint_config = dict(interval=20)
log_config = dict(interval=5)

load_from = None
