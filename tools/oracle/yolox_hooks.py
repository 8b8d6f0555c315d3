"""Oracle fixture for YOLOX's training hooks: runs mmcv 1.7.1's and MMDetection 2.28.2's own hooks (imported from
/work/oracle, see ../shared/docs/oracle.md) against a stand-in runner and writes
tests/fixtures/mmdet-2.28/yolox_hooks/yolox_hooks.json. Our own script, not MMDetection's.
Run: /usr/bin/python3 tools/oracle/yolox_hooks.py   (from the repository root)"""
import math
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmdet
import torch  # noqa: E402
from torch import nn  # noqa: E402
from mmcv.runner.hooks import EMAHook  # noqa: E402
from mmdet.core.hook import (ExpMomentumEMAHook, LinearMomentumEMAHook,  # noqa: E402
                             YOLOXLrUpdaterHook)

sys.path.insert(0, os.path.dirname(__file__))
import _fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '../../tests/fixtures/mmdet-2.28/yolox_hooks/yolox_hooks.json')
entries = {}


class Runner:
    """What the hooks read from mmcv's EpochBasedRunner (0-based epoch / iter, len(data_loader))."""

    def __init__(self, model, optimizer, max_epochs, epoch_len):
        self.model, self.optimizer = model, optimizer
        self.max_epochs, self.data_loader = max_epochs, list(range(epoch_len))
        self.max_iters = max_epochs * epoch_len
        self.epoch = self.iter = 0


def lr_run(name, lr_cfg, base_lrs, max_epochs, epoch_len, record):
    """EpochBasedRunner's call order (before_run; per epoch before_train_epoch; per iteration before_train_iter)."""
    params = [nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    opt = torch.optim.SGD([{'params': [p], 'lr': lr} for p, lr in zip(params, base_lrs)], lr=base_lrs[0])
    runner = Runner(None, opt, max_epochs, epoch_len)
    hook = YOLOXLrUpdaterHook(**lr_cfg)
    hook.before_run(runner)
    lrs = []
    for epoch in range(max_epochs):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        for _ in range(epoch_len):
            hook.before_train_iter(runner)
            lrs.append([g['lr'] for g in opt.param_groups])
            runner.iter += 1
    iters = record if record is not None else list(range(len(lrs)))
    entries[f'{name}.iters'] = iters
    entries[f'{name}.lr'] = [lrs[i] for i in iters]


# yolox_s_8x8_300e_coco.py's lr_config, on 300 epochs of 100 iterations (two parameter groups: lr 0.01 and 0.02)
yolox_s = dict(warmup='exp', by_epoch=False, warmup_by_epoch=True, warmup_ratio=1, warmup_iters=5,
               num_last_epochs=15, min_lr_ratio=0.05)
lr_run('lr_yolox_s', yolox_s, [0.01, 0.02], 300, 100,
       [0, 1, 2, 99, 250, 498, 499, 500, 501, 1000, 15000, 28498, 28499, 28500, 28501, 29999])
# a short run, every iteration: 12 epochs of 5, warm-up 2 epochs (ratio 0.5), last 3 epochs flat at min_lr=0.001
lr_run('lr_short', dict(warmup='exp', by_epoch=False, warmup_by_epoch=True, warmup_ratio=0.5, warmup_iters=2,
                        num_last_epochs=3, min_lr=0.001), [0.01, 0.02], 12, 5, None)


class Tiny(nn.Module):
    """tests/DetSharp.Tests/Engine/TinyDetector.cs's layers and names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 2, 1)
        self.head = nn.Module()
        self.head.fc_cls = nn.Linear(2, 2)


def set_state(model, k):
    """Step k's weights (k = -1: the start): key j of the model's own entries (not the ema_ buffers), element i =
    sin(0.37 (i+1) + 1.3 (j+1) + 0.71 (k+1)) as float32; num_batches_tracked = k + 1. Stands for what the optimizer and
    BN would have made of them."""
    own = [(key, t) for key, t in model.state_dict().items() if not key.startswith('ema_')]
    with torch.no_grad():
        for j, (key, t) in enumerate(own):
            if t.dtype.is_floating_point:
                vals = [math.sin(0.37 * (i + 1) + 1.3 * (j + 1) + 0.71 * (k + 1)) for i in range(t.numel())]
                t.copy_(torch.tensor(vals, dtype=torch.float64).reshape(t.shape).float())
            else:
                t.fill_(k + 1)


def ema_run(name, hook, steps):
    model = Tiny()
    set_state(model, -1)
    runner = Runner(model, None, 1, steps)
    hook.before_run(runner)
    entries[f'{name}.keys'] = list(model.state_dict().keys())
    hook.before_train_epoch(runner)  # swaps model and EMA copies (equal at the start)
    for k in range(steps):
        runner.iter = k
        set_state(model, k)
        hook.after_train_iter(runner)
        for key, t in model.state_dict().items():
            if key.startswith('ema_'):
                entries[f'{name}.{k}.{key}'] = t.double()
    hook.after_train_epoch(runner)  # the model now holds the EMA, the ema_ buffers the trained values
    for key, t in model.state_dict().items():
        entries[f'{name}.swapped.{key}'] = t.double()


ema_run('ema_exp', ExpMomentumEMAHook(momentum=0.1, total_iter=3, interval=2), 5)
ema_run('ema_linear', LinearMomentumEMAHook(momentum=0.2, warm_up=4), 4)
ema_run('ema_mmcv', EMAHook(momentum=0.5, interval=2, warm_up=3), 5)

_fixture.write(OUT, entries)
print('wrote', OUT, len(entries), 'entries')
