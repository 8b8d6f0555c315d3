# The `detsharp demo` model: Mask R-CNN with the ImageNet ResNet-18 that building DetSharp restores from NuGet
# (nuget://resnet18-imagenet, see README "Pretrained weights"), a 64-channel FPN and small heads, fine-tuned on the
# synthetic shapes that `detsharp demo` generates (src/DetSharp.Cli/Demo/SyntheticShapes.cs: 256x192 images,
# classes ellipse/triangle/square, VIA 2.x converted to COCO). `detsharp demo` overrides the data paths and fits
# max_epochs / the lr step to --minutes; run by hand, put the converted dataset at data/demo/{train,val}/.
# The slim from-scratch variant (mask_rcnn_r18_slim_fpn_demo.py) costs a third per iteration but needs about five
# times the iterations: pretrained features reach bbox mAP 0.5 on this data within a few hundred iterations.
_base_ = './mask_rcnn_r18_slim_fpn_demo.py'

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
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64)))

# The network's own preprocessing: BGR pixels in 0..255 minus its mean image's per-channel means.
img_norm_cfg = dict(
    mean=[103.063, 115.903, 123.152], std=[1.0, 1.0, 1.0], to_rgb=False)
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
data = dict(
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))

# Inputs in 0..255 make the new layers' first gradients large: at lr 0.02 with 50 warm-up iterations the losses blew up
# to 1e7 in the first epoch; lr 0.01, 200 warm-up iterations and clipping at 10 train smoothly.
optimizer = dict(lr=0.01)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(warmup_iters=200)
