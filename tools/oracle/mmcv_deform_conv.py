"""Makes tests/fixtures/mmcv-1.7/deform_conv.json with mmcv 1.7.1's own CPU kernels of deform_conv2d and
modulated_deform_conv2d (mmcv/ops/csrc/pytorch/{,cpu/}{deform_conv,modulated_deform_conv}.cpp), compiled here from the
sources of the local reference (/work/oracle, see ../shared/docs/oracle.md) with torch.utils.cpp_extension into a
build folder under /tmp (the oracle's mmcv has no compiled ops; only these four files and the glue below are built).
The cases, inputs and format are those of tools/oracle/deform_conv.py (torchvision), so DetSharp's test reads both:
output, and the gradients of sum(output * R) for a fixed random R with respect to input, offset, mask, weight and
bias, in float64. mmcv's DCNv1 function has no bias: the fixture adds it to the output (its gradient is sum(R)).
Usage: /usr/bin/python3 tools/oracle/mmcv_deform_conv.py OUT.json"""
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  (mmcv and mmdet sources on sys.path, mmcv._ext stub)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deform_conv import write_cases  # noqa: E402

CSRC = '/work/oracle/mmcv/mmcv/ops/csrc'

# Our glue: declares the four mmcv entry points (signatures as in mmcv's pybind.cpp) and binds them under mmcv's names.
GLUE = r'''
#include <torch/extension.h>
using at::Tensor;
void deform_conv_forward(Tensor input, Tensor weight, Tensor offset, Tensor output, Tensor columns, Tensor ones, int kW,
    int kH, int dW, int dH, int padW, int padH, int dilationW, int dilationH, int group, int deformable_group,
    int im2col_step);
void deform_conv_backward_input(Tensor input, Tensor offset, Tensor gradOutput, Tensor gradInput, Tensor gradOffset,
    Tensor weight, Tensor columns, int kW, int kH, int dW, int dH, int padW, int padH, int dilationW, int dilationH,
    int group, int deformable_group, int im2col_step);
void deform_conv_backward_parameters(Tensor input, Tensor offset, Tensor gradOutput, Tensor gradWeight, Tensor columns,
    Tensor ones, int kW, int kH, int dW, int dH, int padW, int padH, int dilationW, int dilationH, int group,
    int deformable_group, float scale, int im2col_step);
void modulated_deform_conv_forward(Tensor input, Tensor weight, Tensor bias, Tensor ones, Tensor offset, Tensor mask,
    Tensor output, Tensor columns, int kernel_h, int kernel_w, const int stride_h, const int stride_w, const int pad_h,
    const int pad_w, const int dilation_h, const int dilation_w, const int group, const int deformable_group,
    const bool with_bias);
void modulated_deform_conv_backward(Tensor input, Tensor weight, Tensor bias, Tensor ones, Tensor offset, Tensor mask,
    Tensor columns, Tensor grad_input, Tensor grad_weight, Tensor grad_bias, Tensor grad_offset, Tensor grad_mask,
    Tensor grad_output, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h,
    int dilation_w, int group, int deformable_group, const bool with_bias);
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("deform_conv_forward", &deform_conv_forward, py::arg("input"), py::arg("weight"), py::arg("offset"),
        py::arg("output"), py::arg("columns"), py::arg("ones"), py::arg("kW"), py::arg("kH"), py::arg("dW"),
        py::arg("dH"), py::arg("padW"), py::arg("padH"), py::arg("dilationW"), py::arg("dilationH"), py::arg("group"),
        py::arg("deformable_group"), py::arg("im2col_step"));
  m.def("deform_conv_backward_input", &deform_conv_backward_input, py::arg("input"), py::arg("offset"),
        py::arg("gradOutput"), py::arg("gradInput"), py::arg("gradOffset"), py::arg("weight"), py::arg("columns"),
        py::arg("kW"), py::arg("kH"), py::arg("dW"), py::arg("dH"), py::arg("padW"), py::arg("padH"),
        py::arg("dilationW"), py::arg("dilationH"), py::arg("group"), py::arg("deformable_group"),
        py::arg("im2col_step"));
  m.def("deform_conv_backward_parameters", &deform_conv_backward_parameters, py::arg("input"), py::arg("offset"),
        py::arg("gradOutput"), py::arg("gradWeight"), py::arg("columns"), py::arg("ones"), py::arg("kW"),
        py::arg("kH"), py::arg("dW"), py::arg("dH"), py::arg("padW"), py::arg("padH"), py::arg("dilationW"),
        py::arg("dilationH"), py::arg("group"), py::arg("deformable_group"), py::arg("scale"),
        py::arg("im2col_step"));
  m.def("modulated_deform_conv_forward", &modulated_deform_conv_forward, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("ones"), py::arg("offset"), py::arg("mask"), py::arg("output"), py::arg("columns"),
        py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"),
        py::arg("pad_w"), py::arg("dilation_h"), py::arg("dilation_w"), py::arg("group"),
        py::arg("deformable_group"), py::arg("with_bias"));
  m.def("modulated_deform_conv_backward", &modulated_deform_conv_backward, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("ones"), py::arg("offset"), py::arg("mask"), py::arg("columns"),
        py::arg("grad_input"), py::arg("grad_weight"), py::arg("grad_bias"), py::arg("grad_offset"),
        py::arg("grad_mask"), py::arg("grad_output"), py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride_h"),
        py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"), py::arg("dilation_h"), py::arg("dilation_w"),
        py::arg("group"), py::arg("deformable_group"), py::arg("with_bias"));
}
'''


def build_ext():
    build = '/tmp/mmcv_deform_conv_build'
    os.makedirs(build, exist_ok=True)
    from torch.utils.cpp_extension import load
    glue = os.path.join(build, 'glue.cpp')
    with open(glue, 'w') as fh:
        fh.write(GLUE)
    sources = [glue]
    for d, tag in (('', 'entry'), ('cpu/', 'cpu')):
        for f in ('deform_conv', 'modulated_deform_conv'):
            # Links with distinct names: ninja would otherwise make two deform_conv.o from pytorch/ and pytorch/cpu/.
            link = os.path.join(build, f'{f}_{tag}.cpp')
            if not os.path.lexists(link):
                os.symlink(f'{CSRC}/pytorch/{d}{f}.cpp', link)
            sources.append(link)
    return load('mmcv_deform_conv_cpu', sources, extra_include_paths=[f'{CSRC}/common', f'{CSRC}/pytorch'],
                extra_cflags=['-O2'], build_directory=build, verbose=False)


def main(path):
    ext = build_ext()
    # mmcv's Python functions call mmcv._ext; give them the kernels just built.
    import mmcv.ops.deform_conv as dc
    import mmcv.ops.modulated_deform_conv as mdc
    dc.ext_module = ext
    mdc.ext_module = ext
    # mmcv's DCNv1 function has no bias argument: added to its output.
    write_cases(path, 'mmcv 1.7.1 CPU deform_conv2d / modulated_deform_conv2d (compiled from the oracle sources)',
                lambda x, off, mask, wt, b, stride, pad, dil, groups, dg:
                mdc.modulated_deform_conv2d(x, off, mask, wt, b, stride, pad, dil, groups, dg) if mask is not None
                else dc.deform_conv2d(x, off, wt, stride, pad, dil, groups, dg, False, x.shape[0]) + b.view(1, -1, 1, 1))


if __name__ == '__main__':
    main(sys.argv[1])
