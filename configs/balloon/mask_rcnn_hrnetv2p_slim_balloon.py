# The slim balloon Mask R-CNN (mask_rcnn_r18_slim_fpn_balloon.py) on MMDetection's HRNetV2p layout instead of
# ResNet-18 + FPN: HRNet with the zoo configs' stages (hrnet/mask_rcnn_hrnetv2p_w18_1x_coco.py: 1/1/4/3 modules,
# BOTTLENECK then BASIC blocks) slimmed to 1 module and 2 blocks per stage and branches of 8/16/32/64 channels, and
# an HRFPN neck of 32 channels. Trains from scratch on a CPU, so its BatchNorms train (norm_eval=False): frozen at
# their initial statistics they normalise nothing, and the unnormalised sums of HRNet's residual and fuse layers grow
# until the losses overflow. Data paths as the base config.
_base_ = './mask_rcnn_r18_slim_fpn_balloon.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(2, ),
                num_channels=(16, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(2, 2),
                num_channels=(8, 16)),
            stage3=dict(
                num_modules=1,
                num_branches=3,
                block='BASIC',
                num_blocks=(2, 2, 2),
                num_channels=(8, 16, 32)),
            stage4=dict(
                num_modules=1,
                num_branches=4,
                block='BASIC',
                num_blocks=(2, 2, 2, 2),
                num_channels=(8, 16, 32, 64))),
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='HRFPN',
        in_channels=[8, 16, 32, 64],
        out_channels=32))
