using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>BaseMergeCell</c> (NAS-FPN's cells): both inputs are resized to <c>out_size</c>, merged by the cell's binary
/// op, then optionally passed through <c>out_conv</c> — a 3×3 ConvModule with bias, in mmcv's order
/// <c>('act', 'conv', 'norm')</c> (ReLU first). Resizing: nearest upsampling when the input is smaller — compared as
/// Python compares shape tuples, height first — otherwise zero padding to a multiple of the target (split evenly, the
/// extra pixel after) and max pooling by the ratio. The optional input convs of mmcv's cell are not used by NAS-FPN and
/// not offered.
/// </summary>
public abstract class BaseMergeCell : nn.Module
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule? _outConv;

    protected BaseMergeCell(string name, int? fusedChannels, int? outChannels, bool withOutConv, ConfigDict? outNormCfg)
        : base(name)
    {
        if (!withOutConv) return;
        if (fusedChannels is not { } fused || outChannels is not { } outs)
            throw new DetSharpException($"{name}: in_channels and out_channels are required when with_out_conv is True.");
        _outConv = new ConvModule(fused, outs, 3, padding: 1, normCfg: outNormCfg, bias: true, activateFirst: true);
        register_module("out_conv", _outConv);
    }

    /// <summary>The cell's merge of the two resized inputs.</summary>
    protected abstract Tensor BinaryOp(Tensor x1, Tensor x2);

    /// <summary>Merges <paramref name="x1"/> and <paramref name="x2"/> [N, C, H, W] at <paramref name="outSize"/> (H, W).</summary>
    public Tensor Forward(Tensor x1, Tensor x2, (long Height, long Width) outSize)
    {
        using var scope = NewDisposeScope();
        var x = BinaryOp(Resize(x1, outSize), Resize(x2, outSize));
        if (_outConv is not null) x = _outConv.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    private static Tensor Resize(Tensor x, (long Height, long Width) size)
    {
        long h = x.shape[2], w = x.shape[3];
        if (h == size.Height && w == size.Width) return x;
        if (h < size.Height || (h == size.Height && w < size.Width))
            return nn.functional.interpolate(x, size: [size.Height, size.Width], mode: InterpolationMode.Nearest);
        if (h % size.Height != 0 || w % size.Width != 0)
        {
            long padH = (long)Math.Ceiling((double)h / size.Height) * size.Height - h;
            long padW = (long)Math.Ceiling((double)w / size.Width) * size.Width - w;
            x = nn.functional.pad(x, new long[] { padW / 2, padW - padW / 2, padH / 2, padH - padH / 2 });
        }
        long kh = x.shape[2] / size.Height, kw = x.shape[3] / size.Width;
        return nn.functional.max_pool2d(x, new long[] { kh, kw }, new long[] { kh, kw });
    }
}

/// <summary>mmcv's <c>SumCell</c>: x1 + x2.</summary>
public sealed class SumCell(int inChannels, int outChannels, ConfigDict? outNormCfg = null)
    : BaseMergeCell(nameof(SumCell), inChannels, outChannels, true, outNormCfg)
{
    protected override Tensor BinaryOp(Tensor x1, Tensor x2) => x1 + x2;
}

/// <summary>mmcv's <c>GlobalPoolingCell</c>: x2 + sigmoid(global average of x2) · x1 (its pooling has no parameters).</summary>
public sealed class GlobalPoolingCell(int? inChannels = null, int? outChannels = null, bool withOutConv = true, ConfigDict? outNormCfg = null)
    : BaseMergeCell(nameof(GlobalPoolingCell), inChannels, outChannels, withOutConv, outNormCfg)
{
    protected override Tensor BinaryOp(Tensor x1, Tensor x2) => x2 + x2.mean([2, 3], keepdim: true).sigmoid() * x1;
}
