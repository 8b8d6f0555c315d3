using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace DetSharp.Ops;

/// <summary>Stride, padding and dilation (height, width) and the channel groupings of a deformable convolution.</summary>
public readonly record struct DeformConvGeometry(
    (long H, long W) Stride, (long H, long W) Padding, (long H, long W) Dilation, long Groups = 1, long DeformGroups = 1);

/// <summary>
/// mmcv's <c>deform_conv2d</c> (DCN, Dai et al. 2017) and <c>modulated_deform_conv2d</c> (DCNv2, Zhu et al. 2019).
/// Output position (y, x) of kernel tap (i, j) reads the input at
/// (y·stride − pad + i·dilation + Δy, x·stride − pad + j·dilation + Δx) by bilinear interpolation, zero outside
/// (−1, H) × (−1, W) and for the corners that fall outside the map — exactly mmcv's <c>deformable_im2col</c> rule —,
/// times the tap's mask in DCNv2; then the weights as a convolution of those columns. Offsets are laid out as mmcv's:
/// channel 2·(g·K + k) is Δy and 2·(g·K + k) + 1 is Δx of tap k = i·kw + j in deformable group g; masks one channel
/// per (g, k).
/// </summary>
/// <remarks>
/// On the CPU (float32, float64) the columns are sampled channels last by <see cref="DeformConvCpuKernel{T}"/>: inside
/// the autograd graph, with mmcv's hand-written backward for the input, offset and mask, they meet the weights in one
/// batched matmul per conv group; in inference (nothing to differentiate) they are laid out as a patch image for
/// libtorch's strided convolution. Elsewhere <c>grid_sample</c> samples them (bilinear, zero padding,
/// align_corners=False on pixel centres, whose rule for corners outside the map is mmcv's), whose autograd gives the
/// same gradients, and one batched matmul per conv group applies the weights.
/// </remarks>
public static class DeformConv
{
    /// <summary>
    /// <paramref name="input"/> [N, C, H, W], <paramref name="offset"/> [N, 2·DG·kh·kw, Ho, Wo], <paramref name="mask"/>
    /// [N, DG·kh·kw, Ho, Wo] or null (DCNv1), <paramref name="weight"/> [Cout, C/groups, kh, kw], <paramref name="bias"/>
    /// [Cout] or null → [N, Cout, Ho, Wo].
    /// </summary>
    public static Tensor Apply(Tensor input, Tensor offset, Tensor? mask, Tensor weight, Tensor? bias, DeformConvGeometry g) =>
        Apply(input, offset, mask, weight, bias, g, UsesCpuKernel(input, offset, mask));

    /// <summary><see cref="Apply(Tensor, Tensor, Tensor?, Tensor, Tensor?, DeformConvGeometry)"/> by grid_sample on any device (the benchmark's baseline).</summary>
    internal static Tensor ApplyGridSample(Tensor input, Tensor offset, Tensor? mask, Tensor weight, Tensor? bias, DeformConvGeometry g) =>
        Apply(input, offset, mask, weight, bias, g, cpuKernel: false);

    private static Tensor Apply(Tensor input, Tensor offset, Tensor? mask, Tensor weight, Tensor? bias, DeformConvGeometry g, bool cpuKernel)
    {
        Check(input, offset, mask, weight, g);
        using var scope = NewDisposeScope();
        long n = input.shape[0], c = input.shape[1];
        long cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3], k = kh * kw;
        long ho = offset.shape[2], wo = offset.shape[3];
        long cg = c / g.Groups;
        Tensor output;
        if (cpuKernel && !RecordsGradient(input, offset, mask, weight, bias))
        {
            // Inference: the samples as a patch image [N, Ho·kh, Wo·kw, C] (channels last) and libtorch's kh×kw
            // convolution of stride (kh, kw) over it, which takes the weights as stored (no per-call permutation of the
            // Cout·C·K weights, 2.4M at ResNet's c5), adds the bias and splits the groups itself. The whole call costs
            // 3–8 % less CPU time than the columns' GEMM at ResNet's c3/c4 and the same at c5 (bench/README.md); the
            // convolution's backward costs about 1.8× the GEMM's, so the autograd path below keeps the columns.
            var patches = DeformConvColumnsFunction.Patches(input, offset, mask, g, (int)kh, (int)kw);
            return conv2d(patches.permute(0, 3, 1, 2), weight, bias, strides: [kh, kw], groups: g.Groups).contiguous().MoveToOuterDisposeScope();
        }

        if (cpuKernel)
        {
            // Columns [N, Ho·Wo, groups, K·C/groups] (channels last) times the weights permuted to the same tap-major
            // order, read as [groups, K·C/groups, Cout/groups]: one GEMM per image and group whose column operand and
            // column gradient keep the columns' layout (no copy of the columns either way); only the small output
            // [Ho·Wo, Cout] is transposed to NCHW.
            var cols = DeformConvColumnsFunction.apply(input, offset, mask ?? empty(0, input.dtype), g, (int)kh, (int)kw);
            var wts = weight.view(g.Groups, cout / g.Groups, cg, k).transpose(2, 3).reshape(g.Groups, cout / g.Groups, k * cg);
            output = matmul(cols.permute(0, 2, 1, 3), wts.transpose(1, 2).unsqueeze(0)).permute(0, 1, 3, 2).reshape(n, cout, ho, wo);
        }
        else
        {
            // Columns [N, groups, C/groups·K, Ho·Wo] against weights [groups, Cout/groups, C/groups·K].
            var cols = GridSampleColumns(input, offset, mask, g, kh, kw).reshape(n, g.Groups, cg * k, ho * wo);
            var wts = weight.reshape(g.Groups, cout / g.Groups, cg * k);
            output = matmul(wts.unsqueeze(0), cols).reshape(n, cout, ho, wo);
        }
        if (bias is not null) output = output + bias.view(1, cout, 1, 1);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Whether autograd records this call: gradients are on and some operand requires one.</summary>
    private static bool RecordsGradient(Tensor input, Tensor offset, Tensor? mask, Tensor weight, Tensor? bias) =>
        is_grad_enabled() && (input.requires_grad || offset.requires_grad || mask?.requires_grad == true || weight.requires_grad || bias?.requires_grad == true);

    /// <summary>Whether the C# kernel computes the columns: CPU float32 or float64 tensors of one dtype.</summary>
    private static bool UsesCpuKernel(Tensor input, Tensor offset, Tensor? mask) =>
        input.device_type == DeviceType.CPU && input.dtype is ScalarType.Float32 or ScalarType.Float64
        && offset.device_type == DeviceType.CPU && offset.dtype == input.dtype
        && (mask is null || (mask.device_type == DeviceType.CPU && mask.dtype == input.dtype));

    /// <summary>The columns [N, DG, C/DG, K, Ho, Wo] by grid_sample (the path of other devices and dtypes).</summary>
    private static Tensor GridSampleColumns(Tensor input, Tensor offset, Tensor? mask, DeformConvGeometry g, long kh, long kw)
    {
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        long k = kh * kw, ho = offset.shape[2], wo = offset.shape[3];
        long dg = g.DeformGroups;
        var opts = (input.dtype, input.device);

        // Regular sampling grid of every tap, [K, Ho, Wo] per axis.
        var ys = (arange(ho, opts.dtype, opts.device) * g.Stride.H - g.Padding.H).view(1, ho, 1);
        var xs = (arange(wo, opts.dtype, opts.device) * g.Stride.W - g.Padding.W).view(1, 1, wo);
        var tapY = (arange(kh, opts.dtype, opts.device) * g.Dilation.H).repeat_interleave(kw).view(k, 1, 1);
        var tapX = (arange(kw, opts.dtype, opts.device) * g.Dilation.W).repeat(kh).view(k, 1, 1);
        var baseY = ys + tapY;
        var baseX = xs + tapX;

        var off = offset.view(n, dg, k, 2, ho, wo);
        var py = baseY + off[.., .., .., 0];
        var px = baseX + off[.., .., .., 1];
        // align_corners=False: normalised coordinate (2p + 1) / size − 1 is pixel p's centre.
        var grid = stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], -1)
            .view(n * dg, k * ho, wo, 2);
        var sampled = grid_sample(input.reshape(n * dg, c / dg, h, w), grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false)
            .view(n, dg, c / dg, k, ho, wo);
        return mask is null ? sampled : sampled * mask.view(n, dg, 1, k, ho, wo);
    }

    /// <summary>The output size of a convolution with this geometry over an <paramref name="h"/>×<paramref name="w"/> input.</summary>
    public static (long H, long W) OutputSize(long h, long w, long kh, long kw, DeformConvGeometry g) =>
        ((h + 2 * g.Padding.H - g.Dilation.H * (kh - 1) - 1) / g.Stride.H + 1, (w + 2 * g.Padding.W - g.Dilation.W * (kw - 1) - 1) / g.Stride.W + 1);

    private static void Check(Tensor input, Tensor offset, Tensor? mask, Tensor weight, DeformConvGeometry g)
    {
        if (input.dim() != 4 || offset.dim() != 4 || weight.dim() != 4)
            throw new ArgumentException($"deform_conv2d: input, offset and weight must be 4-D, got [{string.Join(", ", input.shape)}], [{string.Join(", ", offset.shape)}], [{string.Join(", ", weight.shape)}].");
        long c = input.shape[1], k = weight.shape[2] * weight.shape[3];
        if (c % g.Groups != 0 || c % g.DeformGroups != 0 || weight.shape[0] % g.Groups != 0 || weight.shape[1] * g.Groups != c)
            throw new ArgumentException($"deform_conv2d: {c} input channels, weight [{string.Join(", ", weight.shape)}], groups {g.Groups}, deform_groups {g.DeformGroups} do not fit.");
        var (ho, wo) = OutputSize(input.shape[2], input.shape[3], weight.shape[2], weight.shape[3], g);
        if (offset.shape[0] != input.shape[0] || offset.shape[1] != 2 * g.DeformGroups * k || offset.shape[2] != ho || offset.shape[3] != wo)
            throw new ArgumentException($"deform_conv2d: offset must be [{input.shape[0]}, {2 * g.DeformGroups * k}, {ho}, {wo}], got [{string.Join(", ", offset.shape)}].");
        if (mask is not null && (mask.shape[0] != input.shape[0] || mask.shape[1] != g.DeformGroups * k || mask.shape[2] != ho || mask.shape[3] != wo))
            throw new ArgumentException($"modulated_deform_conv2d: mask must be [{input.shape[0]}, {g.DeformGroups * k}, {ho}, {wo}], got [{string.Join(", ", mask.shape)}].");
    }
}
