using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// MMDetection's <c>DarknetBottleneck</c> (mmdet/models/utils/csp_layer.py): a 1×1 <c>conv1</c> to
/// out_channels·<c>expansion</c>, a 3×3 <c>conv2</c> (depthwise-separable with <c>use_depthwise</c>) to out_channels, and
/// the input added back when <c>add_identity</c> and the channels do not change.
/// </summary>
public sealed class DarknetBottleneck : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule _conv1;
    private readonly nn.Module<Tensor, Tensor> _conv2;

    public DarknetBottleneck(long inChannels, long outChannels, ConvModuleSettings convs, double expansion = 0.5, bool addIdentity = true,
        bool useDepthwise = false)
        : base(nameof(DarknetBottleneck))
    {
        long hidden = (long)(outChannels * expansion);
        _conv1 = convs.Conv(inChannels, hidden, 1);
        _conv2 = convs.Conv(useDepthwise, hidden, outChannels, 3, 1, 1);
        AddIdentity = addIdentity && inChannels == outChannels;
        register_module("conv1", _conv1);
        register_module("conv2", _conv2);
    }

    public bool AddIdentity { get; }

    public override Tensor forward(Tensor x)
    {
        var y = _conv2.forward(_conv1.forward(x));
        return AddIdentity ? y + x : y;
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string y = ctx.Forward(_conv2, ctx.Forward(_conv1, inputs[0]));
        return [AddIdentity ? ctx.Add(y, inputs[0], ctx.ValueName(this, "identity")) : y];
    }
}
