# Mask R-CNN on the balloon dataset with the one ImageNet-pretrained backbone that
# is reachable offline: the ResNet-18 inside the NuGet package
# Microsoft.ML.DnnImageFeaturizer.ResNet18 (an ONNX file exported from CNTK, which
# building DetSharp downloads). It is not torchvision's ResNet-18: its four stages
# have 2, 2, 2 and 3 basic blocks, and CNTK pads stride-2 windows asymmetrically
# (see README "Pretrained weights"). Everything else is the balloon tutorial config.
_base_ = './mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py'

model = dict(
    backbone=dict(
        depth=18,
        stage_blocks=(2, 2, 2, 3),
        pad_mode='cntk',
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        init_cfg=dict(
            type='Pretrained', checkpoint='nuget://resnet18-imagenet')),
    neck=dict(in_channels=[64, 128, 256, 512]))

# The network's own preprocessing (ResNetPreprocess.onnx): BGR pixels in 0..255
# minus a 224x224 mean image; these are that image's per-channel (B, G, R) means.
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

# Start from the ImageNet backbone only (the tutorial's COCO checkpoint is an R50).
load_from = None
