#!/usr/bin/env bash
# Checks that a DetSharp checkpoint loads in Python's torch.load with mmcv's layout (meta, state_dict, optimizer).
# Needs Debian's python3-torch (apt-get install -y python3-torch); not part of the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mktemp --suffix=.pth)"
trap 'rm -f "$out"' EXIT
DETSHARP_PTH_OUT="$out" dotnet test "$root/tests/DetSharp.Tests" --nologo -v q \
  --filter "FullyQualifiedName~CheckpointTests.Meta_weights_and_optimizer_momentum_round_trip" >/dev/null
/usr/bin/python3 - "$out" <<'PY'
import sys, collections, torch
ckpt = torch.load(sys.argv[1], map_location='cpu')
assert set(ckpt) == {'meta', 'state_dict', 'optimizer'}, ckpt.keys()
assert ckpt['meta']['CLASSES'] == ('a', 'b') and ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 2
sd = ckpt['state_dict']
assert isinstance(sd, collections.OrderedDict)
assert sd['conv1.weight'].shape == (4, 3, 3, 3) and sd['bn.num_batches_tracked'].dtype == torch.int64
opt = ckpt['optimizer']
group = opt['param_groups'][0]
assert group['lr'] == 0.02 and group['momentum'] == 0.9 and group['initial_lr'] == 0.02
assert all('momentum_buffer' in s for s in opt['state'].values()) and len(opt['state']) == len(group['params']) - 2
# The optimizer state loads into a real torch SGD over parameters of the same shapes.
params = [torch.nn.Parameter(torch.zeros_like(sd[k])) for k in ['conv1.weight', 'conv1.bias', 'bn.weight', 'bn.bias', 'conv2.weight', 'conv2.bias', 'head.fc_cls.weight', 'head.fc_cls.bias']]
sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9)
sgd.load_state_dict(opt)
print(f"torch {torch.__version__}: loaded {len(sd)} tensors, meta {sorted(ckpt['meta'])}, optimizer with {len(opt['state'])} momentum buffers: OK")
PY
