using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>Focus</c> (CSP-Darknet's stem): the four pixel phases of the image (top-left, bottom-left,
/// top-right, bottom-right, in that channel order) stacked into 4× the channels at half the resolution, then one
/// ConvModule <c>conv</c>.
/// </summary>
public sealed class Focus : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule _conv;

    public Focus(long inChannels, long outChannels, ConvModuleSettings convs, long kernelSize = 1, long stride = 1)
        : base(nameof(Focus))
    {
        _conv = convs.Conv(inChannels * 4, outChannels, kernelSize, stride, (kernelSize - 1) / 2);
        register_module("conv", _conv);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var even = TensorIndex.Slice(0, null, 2);
        var odd = TensorIndex.Slice(1, null, 2);
        var ell = TensorIndex.Ellipsis;
        var stacked = cat([x[ell, even, even], x[ell, odd, even], x[ell, even, odd], x[ell, odd, odd]], 1);
        return _conv.forward(stacked).MoveToOuterDisposeScope();
    }

    /// <summary>The four phases as strided Slices of H and W (start 0 or 1, step 2), concatenated in forward's order.</summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string name = ctx.ValueName(this);
        string Phase(long row, long col) => ctx.Graph.Node("Slice",
            [inputs[0], ctx.Int64s($"{name}.starts_{row}{col}", [row, col]), ctx.Int64s($"{name}.ends_{row}{col}", [long.MaxValue, long.MaxValue]),
                ctx.Int64s($"{name}.axes_{row}{col}", [2, 3]), ctx.Int64s($"{name}.steps_{row}{col}", [2, 2])], $"{name}.phase_{row}{col}");
        string stacked = ctx.Concat([Phase(0, 0), Phase(1, 0), Phase(0, 1), Phase(1, 1)], $"{name}.stacked", 1);
        return [ctx.Forward(_conv, stacked)];
    }
}
