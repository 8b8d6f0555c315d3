# Balloon tutorial config (MMDetection 2.x "train with customized datasets"),
# set up for a short offline run: no pretrained weights, halved image scales,
# 20 iterations with checkpoint and bbox/segm evaluation at iteration 20.
# The new config inherits a base config and overrides only what differs.
_base_ = '../mask_rcnn/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_coco.py'

# one class: change num_classes of both heads; train from scratch (offline)
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(
        bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)))

# dataset settings (as in the tutorial `dataset_type` is not used:
# the inherited `CocoDataset` type of data.train/val/test stays in effect)
dataset_type = 'COCODataset'
classes = ('balloon', )
ann_root = 'data/balloon/'
img_root = 'data/balloon/'
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
    train=dict(
        img_prefix=img_root + 'train/',
        classes=classes,
        ann_file=ann_root + 'train/annotation_coco.json',
        pipeline=train_pipeline),
    val=dict(
        img_prefix=img_root + 'val/',
        classes=classes,
        ann_file=ann_root + 'val/annotation_coco.json',
        pipeline=test_pipeline),
    test=dict(
        img_prefix=img_root + 'val/',
        classes=classes,
        ann_file=ann_root + 'val/annotation_coco.json',
        pipeline=test_pipeline))
evaluation = dict(interval=20)

# short iteration-based schedule
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=20)
checkpoint_config = dict(interval=20)
log_config = dict(interval=5)

# no pretrained checkpoint in the offline run (the tutorial loads
# mask_rcnn_r50_caffe_fpn_mstrain-poly_3x_coco_bbox_mAP-0.408__segm_mAP-0.37_20200504_163245-42aa3d00.pth)
load_from = None
