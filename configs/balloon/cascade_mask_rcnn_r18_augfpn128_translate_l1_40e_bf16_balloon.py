# The L1 recipe (cascade_mask_rcnn_r18_augfpn128_translate_l1_27e_balloon.py) with issue 26's fastest settings:
# bfloat16 mixed precision (training, validation and test autocast; fp32 master weights and losses) on top of the
# channels-last backbone and neck, which are on by default. Those make an iteration about 0.64x float32's, so the hour
# that held 27 float32 epochs holds 40: the schedule is stretched by the same factor (steps 20/25 of 27 -> 30/37 of 40).
_base_ = './cascade_mask_rcnn_r18_augfpn128_translate_l1_27e_balloon.py'

mixed_precision = dict(dtype='bfloat16')

lr_config = dict(step=[30, 37])
runner = dict(max_epochs=40)
evaluation = dict(interval=20)
checkpoint_config = dict(interval=10)
