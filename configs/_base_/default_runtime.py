checkpoint_config = dict(interval=1)
# yapf:disable
log_config = dict(
    interval=50,
    hooks=[
        dict(type='TextLoggerHook'),
        # dict(type='TensorboardLoggerHook')
    ])
# yapf:enable
custom_hooks = [dict(type='NumClassCheckHook')]

dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]

# disable opencv multithreading so that data loader workers do not
# oversubscribe the CPU
opencv_num_threads = 0
# start data loader worker processes with `fork` (faster start-up)
mp_start_method = 'fork'

# Automatic learning-rate scaling:
#   - `enable`: whether to rescale the LR by default.
#   - `base_batch_size`: the total batch size the LR was tuned for,
#     here (8 GPUs) x (2 samples per GPU).
auto_scale_lr = dict(enable=False, base_batch_size=16)
