"""Makes tests/fixtures/torchvision-0.14/deform_conv.json: torchvision.ops.deform_conv2d (Debian's torchvision 0.14.1,
CPU), whose sampling rule and offset/mask layout are mmcv's deform_conv2d / modulated_deform_conv2d, on small random
cases: output, and the gradients of sum(output * R) for a fixed random R with respect to input, offset, mask, weight
and bias. Usage: /usr/bin/python3 tools/oracle/deform_conv.py OUT.json"""
import json
import sys

import torch
from torchvision.ops import deform_conv2d

CASES = [
    # name, N, C, H, W, Cout, kh, kw, stride, pad, dil, groups, deform_groups, modulated, offset scale
    ('dcn_3x3', 2, 4, 7, 9, 6, 3, 3, (1, 1), (1, 1), (1, 1), 1, 1, False, 1.5),
    ('dcnv2_3x3_masked', 1, 4, 6, 5, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1, 1, True, 2.0),
    ('dcnv2_stride2_dilation2_groups2_dg2', 2, 8, 9, 8, 6, 3, 3, (2, 2), (2, 2), (2, 2), 2, 2, True, 3.0),
    ('dcn_2x3_no_padding_far_offsets', 1, 3, 5, 6, 2, 2, 3, (1, 2), (0, 0), (1, 1), 1, 1, False, 6.0),
]


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def write_cases(path, source, apply):
    """Draws every case's inputs, runs apply(x, offset, mask or None, weight, bias, stride, padding, dilation, groups,
    deform_groups) -> output, backpropagates sum(output * R) and writes the fixture JSON. Shared with
    tools/oracle/mmcv_deform_conv.py, so both fixtures hold the same inputs."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for name, n, c, h, w, cout, kh, kw, stride, pad, dil, groups, dg, modulated, scale in CASES:
        ho, wo = out_size(h, kh, stride[0], pad[0], dil[0]), out_size(w, kw, stride[1], pad[1], dil[1])
        x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
        off = torch.randn(n, 2 * dg * kh * kw, ho, wo, generator=g, dtype=torch.float64) * scale
        mask = torch.rand(n, dg * kh * kw, ho, wo, generator=g, dtype=torch.float64) if modulated else None
        wt = torch.randn(cout, c // groups, kh, kw, generator=g, dtype=torch.float64)
        b = torch.randn(cout, generator=g, dtype=torch.float64)
        r = torch.randn(n, cout, ho, wo, generator=g, dtype=torch.float64)
        for t in (x, off, wt, b) + ((mask,) if modulated else ()):
            t.requires_grad_()
        y = apply(x, off, mask, wt, b, stride, pad, dil, groups, dg)
        (y * r).sum().backward()

        def flat(t):
            return [float(v) for v in t.detach().reshape(-1).tolist()]
        case = dict(name=name, stride=list(stride), padding=list(pad), dilation=list(dil), groups=groups, deform_groups=dg,
                    input=dict(shape=list(x.shape), values=flat(x)), offset=dict(shape=list(off.shape), values=flat(off)),
                    weight=dict(shape=list(wt.shape), values=flat(wt)), bias=flat(b), r=flat(r),
                    output=dict(shape=list(y.shape), values=flat(y)),
                    grad_input=flat(x.grad), grad_offset=flat(off.grad), grad_weight=flat(wt.grad), grad_bias=flat(b.grad))
        if modulated:
            case.update(mask=dict(shape=list(mask.shape), values=flat(mask)), grad_mask=flat(mask.grad))
        cases.append(case)
    with open(path, 'w') as fh:
        json.dump(dict(source=source, cases=cases), fh)


def main(path):
    # torchvision infers deform_groups from the offset's channels and groups from the weight's, as mmcv's modules do.
    write_cases(path, 'torchvision.ops.deform_conv2d ' + __import__('torchvision').__version__,
                lambda x, off, mask, wt, b, stride, pad, dil, groups, dg:
                deform_conv2d(x, off, wt, b, stride=stride, padding=pad, dilation=dil, mask=mask))


if __name__ == '__main__':
    main(sys.argv[1])
