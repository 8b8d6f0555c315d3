using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// MMDetection's <c>CSPLayer</c> (Cross Stage Partial layer, mmdet/models/utils/csp_layer.py): the input goes through two
/// 1×1 convs to out_channels·<c>expand_ratio</c>, <c>main_conv</c> followed by <c>num_blocks</c>
/// <see cref="DarknetBottleneck"/>s (expansion 1) and <c>short_conv</c> alone; both are concatenated (main first) and
/// fused by the 1×1 <c>final_conv</c>.
/// </summary>
public sealed class CSPLayer : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule _mainConv;
    private readonly ConvModule _shortConv;
    private readonly ConvModule _finalConv;
    private readonly nn.Module<Tensor, Tensor> _blocks;

    public CSPLayer(long inChannels, long outChannels, ConvModuleSettings convs, double expandRatio = 0.5, int numBlocks = 1, bool addIdentity = true,
        bool useDepthwise = false)
        : base(nameof(CSPLayer))
    {
        long mid = (long)(outChannels * expandRatio);
        _mainConv = convs.Conv(inChannels, mid, 1);
        _shortConv = convs.Conv(inChannels, mid, 1);
        _finalConv = convs.Conv(2 * mid, outChannels, 1);
        var blocks = new nn.Module<Tensor, Tensor>[numBlocks];
        for (int i = 0; i < numBlocks; i++) blocks[i] = new DarknetBottleneck(mid, mid, convs, 1.0, addIdentity, useDepthwise);
        _blocks = nn.Sequential(blocks);
        register_module("main_conv", _mainConv);
        register_module("short_conv", _shortConv);
        register_module("final_conv", _finalConv);
        register_module("blocks", _blocks);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var main = _blocks.forward(_mainConv.forward(x));
        return _finalConv.forward(cat([main, _shortConv.forward(x)], 1)).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string main = ctx.Forward(_blocks, ctx.Forward(_mainConv, inputs[0]));
        return [ctx.Forward(_finalConv, ctx.Concat([main, ctx.Forward(_shortConv, inputs[0])], ctx.ValueName(this, "concat"), 1))];
    }
}
