# YOLOX on the balloon benchmark (boxes only, one class) within an hour of 2 CPU cores. YOLOX-tiny's neck, head,
# SimOTA, Mosaic + RandomAffine + HSV recipe, 'yolox' LR policy, mode switch and EMA, with one change that matters on 61
# training images: the backbone is the ImageNet ResNet-18 from NuGet (the one pretrained backbone reachable offline; a
# CSPDarknet would start from scratch), so the pixels are normalized as that network expects. Sized for the hour: 30
# epochs of 8 iterations at batch 8, 384-512 pixels; the first 16 iterations took 13 CPU-seconds each (on a machine
# loaded by other work, 20-118 s wall each), about 52 CPU-minutes in all, i.e. 30-45 minutes on 2 quiet cores (estimate).
_base_ = '../yolox/yolox_tiny_8x8_300e_coco.py'

img_scale = (448, 448)  # height, width
model = dict(
    input_size=img_scale,
    # Every 10 iterations a new training size of 32 * (12..16) = 384..512 pixels.
    random_size_range=(12, 16),
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
    neck=dict(in_channels=[128, 256, 512], out_channels=96),
    bbox_head=dict(num_classes=1, in_channels=96, feat_channels=96))

# The network's own preprocessing: BGR pixels in 0..255 minus the ImageNet mean image's channel means (see
# mask_rcnn_r18_fpn_1x_balloon.py); YOLOX's 114 padding becomes about 0 after it.
img_norm_cfg = dict(mean=[103.063, 115.903, 123.152], std=[1.0, 1.0, 1.0], to_rgb=False)
classes = ('balloon', )
train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(
        type='RandomAffine',
        scaling_ratio_range=(0.5, 1.5),
        border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(512, 512),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img'])
        ])
]
data = dict(
    samples_per_gpu=8,
    workers_per_gpu=2,
    train=dict(
        dataset=dict(
            classes=classes,
            ann_file='data/balloon/train/annotation_coco.json',
            img_prefix='data/balloon/train/'),
        pipeline=train_pipeline),
    val=dict(
        classes=classes,
        ann_file='data/balloon/val/annotation_coco.json',
        img_prefix='data/balloon/val/',
        pipeline=test_pipeline),
    test=dict(
        classes=classes,
        ann_file='data/balloon/val/annotation_coco.json',
        img_prefix='data/balloon/val/',
        pipeline=test_pipeline))

# YOLOX's lr is 0.01 for 64 images a batch; a pretrained backbone and 8 images take a larger share of it.
optimizer = dict(lr=0.005)
max_epochs = 30
num_last_epochs = 5
interval = 10
lr_config = dict(warmup_iters=3, num_last_epochs=num_last_epochs)
runner = dict(max_epochs=max_epochs)
custom_hooks = [
    dict(type='YOLOXModeSwitchHook', num_last_epochs=num_last_epochs, priority=48),
    dict(type='SyncNormHook', num_last_epochs=num_last_epochs, interval=interval, priority=48),
    dict(type='ExpMomentumEMAHook', resume_from=None, momentum=0.0001, priority=49)
]
checkpoint_config = dict(interval=interval)
evaluation = dict(interval=interval, dynamic_intervals=[(max_epochs - num_last_epochs, 1)], metric='bbox')
log_config = dict(interval=4)
load_from = None
