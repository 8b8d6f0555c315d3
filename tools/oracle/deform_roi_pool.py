"""Fixtures for DetSharp's DeformRoIPool op and mmcv's DeformRoIPoolPack / ModulatedDeformRoIPoolPack layers.

Our own script (not upstream code). It imports mmcv 1.7.1 from the local reference build at /work/oracle (see
../shared/docs/oracle.md), so run it with Debian's python:

    /usr/bin/python3 tools/oracle/deform_roi_pool.py tests/fixtures/mmdet-2.28/deform_roi_pool

mmcv's deform_roi_pool kernel is compiled C++/CUDA, which the reference build does not have, and torchvision's
roi_align takes no offsets. So `deform_roi_pool_reference` below re-states mmcv's CUDA kernel
(mmcv/ops/csrc/common/cuda/deform_roi_pool_cuda_kernel.cuh, deform_roi_pool_forward_cuda_kernel, and
bilinear_interpolate in common_cuda_helper.hpp) as a plain loop in Python, sample by sample, and mmcv's own
DeformRoIPoolPack / ModulatedDeformRoIPoolPack modules (their offset_fc / mask_fc and forward) run on top of it
by replacing the module-level function `mmcv.ops.deform_roi_pool.deform_roi_pool` that their forward calls.
It writes weights.pth ({'state_dict': the two layers under 'dpool.' / 'mdpool.', and 'input', 'rois', 'offset'})
and outputs.json (every output in full, row-major). tests/fixtures/mmdet-2.28/deform_roi_pool/README.md describes
the cases.
"""
import math
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (must come before mmcv/mmdet)
import torch  # noqa: E402
import mmcv.ops  # noqa: E402

# mmcv.ops re-exports a function named deform_roi_pool, so the module itself is taken from sys.modules.
dpool_module = sys.modules['mmcv.ops.deform_roi_pool']

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fixture  # noqa: E402

OUTPUT_SIZE = (3, 4)
SPATIAL_SCALE = 0.5
GAMMA = 0.1


def bilinear(fmap, y, x):
    """mmcv's bilinear_interpolate over all channels of fmap [C, H, W] at one point."""
    _, h, w = fmap.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return fmap.new_zeros(fmap.shape[0])
    y = max(y, 0.0)
    x = max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * fmap[:, y_low, x_low] + hy * lx * fmap[:, y_low, x_high]
            + ly * hx * fmap[:, y_high, x_low] + ly * lx * fmap[:, y_high, x_high])


def deform_roi_pool_reference(input, rois, offset, output_size, spatial_scale=1.0, sampling_ratio=0, gamma=0.1):
    """mmcv's deform_roi_pool_forward kernel, one output bin at a time (float64 arithmetic)."""
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    ph_n, pw_n = output_size
    inp = input.double()
    out = inp.new_zeros(rois.size(0), input.size(1), ph_n, pw_n)
    for n in range(rois.size(0)):
        b = int(rois[n, 0])
        start_w = float(rois[n, 1]) * spatial_scale - 0.5
        start_h = float(rois[n, 2]) * spatial_scale - 0.5
        roi_w = float(rois[n, 3]) * spatial_scale - 0.5 - start_w
        roi_h = float(rois[n, 4]) * spatial_scale - 0.5 - start_h
        bin_h, bin_w = roi_h / ph_n, roi_w / pw_n
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / ph_n)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / pw_n)
        count = max(grid_h * grid_w, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                sw, sh = start_w, start_h
                if offset is not None and offset.numel() > 0:
                    sw += gamma * roi_w * float(offset[n, 0, ph, pw])
                    sh += gamma * roi_h * float(offset[n, 1, ph, pw])
                acc = inp.new_zeros(input.size(1))
                for iy in range(grid_h):
                    y = sh + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = sw + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        acc += bilinear(inp[b], y, x)
                out[n, :, ph, pw] = acc / count
    return out.to(input.dtype)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    dpool_module.deform_roi_pool = deform_roi_pool_reference
    gen = torch.Generator().manual_seed(0)
    inp = torch.randn(2, 8, 12, 16, generator=gen)
    # (batch, x1, y1, x2, y2) in image pixels (spatial_scale 0.5): inside, at the border, partly outside, tiny, large.
    rois = torch.tensor([[0, 2.0, 3.0, 20.0, 15.0],
                         [0, 0.0, 0.0, 31.0, 23.0],
                         [1, 24.0, 14.0, 40.0, 30.0],
                         [1, 5.5, 6.25, 7.0, 8.5],
                         [0, 10.0, 1.0, 29.5, 22.0]])
    offset = torch.randn(rois.size(0), 2, *OUTPUT_SIZE, generator=gen)

    outputs = {
        'pool_no_offset': deform_roi_pool_reference(inp, rois, None, OUTPUT_SIZE, SPATIAL_SCALE, 0, GAMMA),
        'pool_offset_adaptive': deform_roi_pool_reference(inp, rois, offset, OUTPUT_SIZE, SPATIAL_SCALE, 0, GAMMA),
        'pool_offset_sr2': deform_roi_pool_reference(inp, rois, offset, OUTPUT_SIZE, SPATIAL_SCALE, 2, GAMMA),
    }
    torch.manual_seed(0)
    dpool = dpool_module.DeformRoIPoolPack(OUTPUT_SIZE, 8, deform_fc_channels=16, spatial_scale=SPATIAL_SCALE, sampling_ratio=2)
    mdpool = dpool_module.ModulatedDeformRoIPoolPack(OUTPUT_SIZE, 8, deform_fc_channels=16, spatial_scale=SPATIAL_SCALE,
                                                     sampling_ratio=2)
    # The last Linear of each branch starts at zero (plain RoIAlign); random ones make the offsets and masks matter.
    wgen = torch.Generator().manual_seed(1)
    for fc in (dpool.offset_fc[4], mdpool.offset_fc[4], mdpool.mask_fc[2]):
        fc.weight.data = torch.randn(fc.weight.shape, generator=wgen) * 0.3
        fc.bias.data = torch.randn(fc.bias.shape, generator=wgen) * 0.3
    with torch.no_grad():
        outputs['dpool'] = dpool(inp, rois)
        outputs['mdpool'] = mdpool(inp, rois)

    state = {'input': inp, 'rois': rois, 'offset': offset}
    for name, m in (('dpool', dpool), ('mdpool', mdpool)):
        for k, v in m.state_dict().items():
            state[f'{name}.{k}'] = v
    torch.save({'state_dict': state}, os.path.join(out_dir, 'weights.pth'))
    _fixture.write(os.path.join(out_dir, 'outputs.json'), outputs)
    for k, v in outputs.items():
        print(k, tuple(v.shape), float(v.abs().sum()))


if __name__ == '__main__':
    main(sys.argv[1])
