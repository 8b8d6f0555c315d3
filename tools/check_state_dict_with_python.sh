#!/usr/bin/env bash
# Round trip to Python: DetSharp writes a Mask R-CNN R50 checkpoint (configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py,
# mmcv layout); Debian's python3-torch loads it, checks every key and shape against MMDetection's own state dict
# (../shared/fixtures/mmdet/state_dicts/mask_rcnn_r50_fpn_nc80.state_dict*.tsv), builds a torch.nn.Module tree with
# parameters/buffers of exactly those names, shapes and dtypes (no mmdet needed) and loads it with strict=True.
# Installs python3-torch when missing (root, apt). Not part of the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="$root/../shared/fixtures/mmdet/state_dicts"
[[ -f "$fixtures/mask_rcnn_r50_fpn_nc80.state_dict_detail.tsv" ]] || { echo "needs $fixtures (../shared beside the checkout)" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-torch >/dev/null
fi
out="$(mktemp --suffix=.pth)"
trap 'rm -f "$out"' EXIT
DETSHARP_MASK_RCNN_PTH_OUT="$out" dotnet test "$root/tests/DetSharp.Tests" --nologo -v q \
  --filter "FullyQualifiedName~PythonInteropTests.Mask_rcnn_r50_checkpoint_has_mmdetection_keys_and_shapes" >/dev/null
/usr/bin/python3 - "$out" "$fixtures" <<'PY'
import sys, collections, torch
path, fixtures = sys.argv[1], sys.argv[2]
ckpt = torch.load(path, map_location='cpu')
assert isinstance(ckpt, dict) and {'meta', 'state_dict'} <= set(ckpt), list(ckpt)
sd = ckpt['state_dict']
assert isinstance(sd, collections.OrderedDict), type(sd)

rows = [l.rstrip('\n').split('\t') for l in open(f'{fixtures}/mask_rcnn_r50_fpn_nc80.state_dict_detail.tsv')][1:]
plain = [l.rstrip('\n').split('\t') for l in open(f'{fixtures}/mask_rcnn_r50_fpn_nc80.state_dict.tsv') if l.strip()]
assert [r[0] for r in rows] == [p[0] for p in plain] and [r[1] for r in rows] == [p[1] for p in plain]
expected = collections.OrderedDict((r[0], (eval(r[1]), r[2], r[3], r[4])) for r in rows)

missing = [k for k in expected if k not in sd]
extra = [k for k in sd if k not in expected]
assert not missing and not extra, f'missing {missing[:5]}, unexpected {extra[:5]}'
for k, (shape, kind, rg, dtype) in expected.items():
    assert list(sd[k].shape) == shape, f'{k}: {list(sd[k].shape)} != {shape}'
    assert str(sd[k].dtype) == 'torch.' + dtype, f'{k}: {sd[k].dtype} != {dtype}'

class Node(torch.nn.Module):
    pass

model = Node()
for k, (shape, kind, rg, dtype) in expected.items():
    *parents, leaf = k.split('.')
    m = model
    for p in parents:
        if p not in m._modules:
            m.add_module(p, Node())
        m = m._modules[p]
    t = torch.zeros(shape, dtype=getattr(torch, dtype))
    if kind == 'param':
        m.register_parameter(leaf, torch.nn.Parameter(t, requires_grad=(rg == 'True')))
    else:
        m.register_buffer(leaf, t)
assert list(model.state_dict()) == list(expected), 'module tree does not reproduce the fixture order'
result = model.load_state_dict(sd, strict=True)
assert not result.missing_keys and not result.unexpected_keys, result
mine = model.state_dict()
assert all(torch.equal(mine[k], sd[k]) for k in expected)
n_params = sum(p.numel() for p in model.parameters())
same_order = list(sd) == list(expected)
print(f'torch {torch.__version__}: {path.rsplit("/", 1)[-1]} holds {len(sd)} tensors; every key, shape and dtype equals '
      f'MMDetection\'s mask_rcnn_r50_fpn_1x_coco state dict ({n_params:,} parameters); '
      f'load_state_dict(strict=True) into a module tree of exactly those names: OK; values identical: OK; '
      f'file order {"equals" if same_order else "differs from"} PyTorch\'s state_dict order')
PY
