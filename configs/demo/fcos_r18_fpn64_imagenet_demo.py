# FCOS (a point-based one-stage detector: MMDetection's SingleStageDetector with an FCOSHead) on the synthetic shapes of
# `detsharp demo`, with the ImageNet ResNet-18 from NuGet (nuget://resnet18-imagenet), a 64-channel FPN and a GN head.
# Boxes only. Data, pipelines and schedule are the RetinaNet demo's (retinanet_r18_fpn64_imagenet_demo.py).
_base_ = './retinanet_r18_fpn64_imagenet_demo.py'

model = dict(
    _delete_=True,
    type='FCOS',
    backbone=dict(
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
    neck=dict(
        type='FPN',
        in_channels=[64, 128, 256, 512],
        out_channels=64,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='FCOSHead',
        num_classes=3,
        in_channels=64,
        stacked_convs=4,
        feat_channels=64,
        strides=[8, 16, 32, 64, 128],
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None,
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))
