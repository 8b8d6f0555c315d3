# The balloon config of MMDetection 2.x's "train with customized datasets" tutorial
# (docs/en/2_new_data_model.md). As printed there, `_base_` lacks the leading '../'
# and cannot be found from configs/balloon/ (MMDetection issue #9204); this is the
# path that works. Put the dataset at data/balloon/ (convert its VIA annotations with
# `detsharp convert via2coco`).
_base_ = '../mask_rcnn/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_coco.py'

# We also need to change the num_classes in head to match the dataset's annotation
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)))

# Modify dataset related settings. As in the tutorial, `dataset_type` is not used:
# data.train/val/test keep the inherited type `CocoDataset`.
dataset_type = 'COCODataset'
classes = ('balloon', )
ann_root = 'data/balloon/'
img_root = 'data/balloon/'
data = dict(
    train=dict(
        img_prefix=img_root + 'train/',
        classes=classes,
        ann_file=ann_root + 'train/annotation_coco.json'),
    val=dict(
        img_prefix=img_root + 'val/',
        classes=classes,
        ann_file=ann_root + 'val/annotation_coco.json'),
    test=dict(
        img_prefix=img_root + 'val/',
        classes=classes,
        ann_file=ann_root + 'val/annotation_coco.json'))

# We can use the pre-trained Mask RCNN model to obtain higher performance
load_from = 'checkpoints/mask_rcnn_r50_caffe_fpn_mstrain-poly_3x_coco_bbox_mAP-0.408__segm_mAP-0.37_20200504_163245-42aa3d00.pth'
