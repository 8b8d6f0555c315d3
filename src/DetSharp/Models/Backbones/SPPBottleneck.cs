using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>SPPBottleneck</c> (spatial pyramid pooling of YOLOv3-SPP, in CSP-Darknet's last stage): a 1×1
/// <c>conv1</c> to half the channels, its output concatenated with stride-1 max poolings of each kernel size (padding
/// k // 2; the <c>poolings</c> have no parameters), and a 1×1 <c>conv2</c> to the output channels.
/// </summary>
public sealed class SPPBottleneck : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule _conv1;
    private readonly ConvModule _conv2;
    private readonly long[] _kernelSizes;

    public SPPBottleneck(long inChannels, long outChannels, ConvModuleSettings convs, long[] kernelSizes)
        : base(nameof(SPPBottleneck))
    {
        long mid = inChannels / 2;
        _kernelSizes = kernelSizes;
        _conv1 = convs.Conv(inChannels, mid, 1);
        _conv2 = convs.Conv(mid * (kernelSizes.Length + 1), outChannels, 1);
        register_module("conv1", _conv1);
        register_module("conv2", _conv2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = _conv1.forward(x);
        var parts = new List<Tensor> { x };
        foreach (long k in _kernelSizes) parts.Add(nn.functional.max_pool2d(x, k, 1, k / 2));
        return _conv2.forward(cat(parts, 1)).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string name = ctx.ValueName(this);
        string x = ctx.Forward(_conv1, inputs[0]);
        var parts = new List<string> { x };
        foreach (long k in _kernelSizes) parts.Add(ctx.MaxPool(x, $"{name}.pool{k}", [k, k], [1, 1], [k / 2, k / 2]));
        return [ctx.Forward(_conv2, ctx.Concat(parts, $"{name}.pooled", 1))];
    }
}
