using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>
/// The deformable columns [N, Ho·Wo, groups, K·C/groups] (channels last, tap-major inside a conv group:
/// <see cref="ColumnLayout.Gemm"/>) of a CPU float32/float64 input inside the autograd graph: forward and backward by
/// <see cref="DeformConvCpuKernel{T}"/> (mmcv's deformable_im2col / col2im / col2im_coord) on the input read as
/// [N, H, W, C]; and, outside the graph, the same samples as a patch image (<see cref="Patches"/>).
/// Arguments: input [N, C, H, W], offset [N, 2·DG·K, Ho, Wo], mask [N, DG·K, Ho, Wo] (an empty tensor for DCNv1),
/// the geometry, kh, kw.
/// </summary>
internal sealed class DeformConvColumnsFunction : autograd.SingleTensorFunction<DeformConvColumnsFunction>
{
    private const string GeometryKey = "geometry";
    private const string KernelKey = "kernel";

    public override string Name => "DeformConvColumns";

    /// <summary>
    /// The samples as the patch image [N, Ho·kh, Wo·kw, C] (<see cref="ColumnLayout.Patches"/>), not recorded by autograd:
    /// the inference path, where a kh×kw convolution of stride (kh, kw) applies the weights as stored.
    /// </summary>
    public static Tensor Patches(Tensor input, Tensor offset, Tensor? mask, DeformConvGeometry g, int kh, int kw)
    {
        using var scope = NewDisposeScope();
        var x = input.permute(0, 2, 3, 1).contiguous();
        var off = offset.contiguous();
        var m = (mask ?? empty(0, input.dtype)).contiguous();
        var patches = empty([x.shape[0], offset.shape[2] * kh, offset.shape[3] * kw, x.shape[3]], input.dtype);
        if (input.dtype == ScalarType.Float64) Run<double>(x, off, m, g, (kh, kw), patches, true, null, null, null, null);
        else Run<float>(x, off, m, g, (kh, kw), patches, true, null, null, null, null);
        return patches.MoveToOuterDisposeScope();
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        // Channels last: a tap reads its corners' channels as one contiguous run.
        var input = ((Tensor)vars[0]).permute(0, 2, 3, 1).contiguous();
        var offset = ((Tensor)vars[1]).contiguous();
        var mask = ((Tensor)vars[2]).contiguous();
        var g = (DeformConvGeometry)vars[3];
        var kernel = ((int)vars[4], (int)vars[5]);
        ctx.save_for_backward([input, offset, mask]);
        ctx.save_data(GeometryKey, g);
        ctx.save_data(KernelKey, kernel);
        long n = input.shape[0], c = input.shape[3], k = kernel.Item1 * kernel.Item2;
        var columns = empty([n, offset.shape[2] * offset.shape[3], g.Groups, k * c / g.Groups], input.dtype);
        if (input.dtype == ScalarType.Float64) Run<double>(input, offset, mask, g, kernel, columns, false, null, null, null, null);
        else Run<float>(input, offset, mask, g, kernel, columns, false, null, null, null, null);
        return columns;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var saved = ctx.get_saved_variables();
        Tensor input = saved[0], offset = saved[1], mask = saved[2];
        var g = (DeformConvGeometry)ctx.get_data(GeometryKey);
        var kernel = ((int, int))ctx.get_data(KernelKey);
        var gradColumns = grad_output.to_type(input.dtype).contiguous();
        var gradInput = zeros_like(input);
        var gradOffset = empty_like(offset);
        var gradMask = empty_like(mask);
        if (input.dtype == ScalarType.Float64) Run<double>(input, offset, mask, g, kernel, null, false, gradColumns, gradInput, gradOffset, gradMask);
        else Run<float>(input, offset, mask, g, kernel, null, false, gradColumns, gradInput, gradOffset, gradMask);
        return [gradInput.permute(0, 3, 1, 2).contiguous(), gradOffset, mask.numel() == 0 ? null! : gradMask, null!, null!, null!];
    }

    /// <summary>Forward (<paramref name="columns"/> given, as the patch image when <paramref name="patches"/>) or backward
    /// (the gradients given), image by image; the input and its gradient are [N, H, W, C].</summary>
    private static unsafe void Run<T>(Tensor input, Tensor offset, Tensor mask, DeformConvGeometry g, (int H, int W) kernel,
        Tensor? columns, bool patches, Tensor? gradColumns, Tensor? gradInput, Tensor? gradOffset, Tensor? gradMask)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int n = (int)input.shape[0], h = (int)input.shape[1], w = (int)input.shape[2], c = (int)input.shape[3];
        int ho = (int)offset.shape[2], wo = (int)offset.shape[3], k = kernel.H * kernel.W, p = ho * wo;
        int dg = (int)g.DeformGroups, groups = (int)g.Groups;
        bool hasMask = mask.numel() > 0;
        var layout = patches ? ColumnLayout.Patches(c, groups, kernel.H, kernel.W, wo) : ColumnLayout.Gemm(c, groups, kernel.H, kernel.W, wo);
        long imgIn = (long)c * h * w, imgOff = 2L * dg * k * p, imgMask = (long)dg * k * p, imgCol = (long)c * k * p;
        fixed (byte* pin = input.bytes, poff = offset.bytes, pmask = mask.bytes)
        {
            for (int i = 0; i < n; i++)
            {
                T* x = (T*)pin + i * imgIn;
                T* m = hasMask ? (T*)pmask + i * imgMask : null;
                if (columns is not null)
                {
                    var masked = DeformConvCpuKernel<T>.ComputeTaps((T*)poff + i * imgOff, dg, kernel.H, kernel.W, ho, wo, h, w, g, foldMask: m);
                    fixed (byte* pcol = columns.bytes)
                        DeformConvCpuKernel<T>.Columns(x, c, groups, masked, dg, k, p, layout, (T*)pcol + i * imgCol);
                    continue;
                }

                var taps = DeformConvCpuKernel<T>.ComputeTaps((T*)poff + i * imgOff, dg, kernel.H, kernel.W, ho, wo, h, w, g);

                fixed (byte* pgc = gradColumns!.bytes, pgi = gradInput!.bytes, pgo = gradOffset!.bytes, pgm = gradMask!.bytes)
                {
                    T* gc = (T*)pgc + i * imgCol;
                    DeformConvCpuKernel<T>.InputGradient(gc, c, groups, taps, m, dg, k, p, layout, (T*)pgi + i * imgIn);
                    DeformConvCpuKernel<T>.OffsetAndMaskGradient(gc, x, c, groups, taps, m, dg, k, p, layout,
                        (T*)pgo + i * imgOff, hasMask ? (T*)pgm + i * imgMask : null);
                }
            }
        }
    }
}
