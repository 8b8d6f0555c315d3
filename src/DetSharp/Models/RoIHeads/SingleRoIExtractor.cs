using DetSharp.Config;
using DetSharp.Models.Onnx;
using DetSharp.Models.Onnx.Proto;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>SingleRoIExtractor</c>: each RoI is pooled from one level, <c>floor(log2(√(w·h) / finest_scale + 1e-6))</c>
/// clamped to [0, L−1], by that level's RoI layer (<see cref="BaseRoIExtractor"/>).
/// </summary>
[Register(Registries.ModelsName, "SingleRoIExtractor")]
public sealed class SingleRoIExtractor(ConfigDict roiLayer, int outChannels, int[] featmapStrides, int finestScale = 56, object? initCfg = null)
    : BaseRoIExtractor(nameof(SingleRoIExtractor), roiLayer, outChannels, featmapStrides, initCfg), IOnnxExportable
{
    public int FinestScale { get; } = finestScale;

    /// <summary><c>map_roi_levels</c>.</summary>
    public Tensor MapRoiLevels(Tensor rois, int numLevels)
    {
        var scale = sqrt((rois[.., 3] - rois[.., 1]) * (rois[.., 4] - rois[.., 2]));
        var lvls = floor(log2(scale / FinestScale + 1e-6));
        return lvls.clamp(0, numLevels - 1).to_type(ScalarType.Int64);
    }

    public override Tensor Forward(IReadOnlyList<Tensor> feats, Tensor rois, double? roiScaleFactor = null)
    {
        using var scope = NewDisposeScope();
        int numLevels = NumInputs;
        var roiFeats = zeros([rois.shape[0], OutChannels, OutputSize.Height, OutputSize.Width], feats[0].dtype, feats[0].device);
        if (rois.shape[0] == 0) return roiFeats.MoveToOuterDisposeScope();
        if (numLevels == 1)
            return ForwardLevel(feats[0], rois, 0).MoveToOuterDisposeScope();
        var target = MapRoiLevels(rois, numLevels);
        if (roiScaleFactor is { } f) rois = RoiRescale(rois, f);
        for (int i = 0; i < numLevels; i++)
        {
            var inds = nonzero(target == i).view(-1);
            if (inds.numel() == 0) continue;
            var t = ForwardLevel(feats[i], rois[inds], i);
            roiFeats = roiFeats.index_put_(t, TensorIndex.Tensor(inds));
        }
        return roiFeats.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="Forward"/> as ONNX nodes for one image: <paramref name="inputs"/> are the levels' maps then the RoIs
    /// [K, 4] (x1, y1, x2, y2); returns the features [K, C, oh, ow]. Each level pools the RoIs mapped to it (NonZero,
    /// Gather, RoiAlign) and scatters them into their rows (ScatterND), as the libtorch loop does.
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        int numLevels = NumInputs;
        if (inputs.Count < numLevels + 1) throw ctx.Unsupported(this, $"{inputs.Count} inputs for {numLevels} levels and the RoIs");
        string rois = inputs[^1];
        string name = ctx.ValueName(this, "roi_feats");
        if (numLevels == 1) return [ExportLevel(ctx, 0, inputs[0], rois, name)];
        var (oh, ow) = OutputSize;
        string level = ExportMapRoiLevels(ctx, rois, numLevels, $"{name}.level");
        string shape = ctx.Concat([ctx.Dim(rois, 0, $"{name}.count"), ctx.Int64s($"{name}.chw", [OutChannels, oh, ow])], $"{name}.shape", 0);
        string result = ctx.Graph.Node("Expand", [ctx.Scalar($"{name}.zero", 0f), shape], $"{name}.zeros");
        for (int l = 0; l < numLevels; l++)
        {
            string lv = $"{name}.level{l}";
            string mask = ctx.Graph.Node("Equal", [level, ctx.ScalarInt($"{lv}.id", l)], $"{lv}.mask");
            string inds = ctx.Reshape(ctx.Graph.Node("NonZero", [mask], $"{lv}.nonzero"), $"{lv}.inds", -1);
            string pooled = ExportLevel(ctx, l, inputs[l], ctx.Gather(rois, inds, 0, $"{lv}.rois"), $"{lv}.pooled");
            result = ctx.Graph.Node("ScatterND", [result, ctx.Unsqueeze(inds, $"{lv}.index", 1), pooled], l == numLevels - 1 ? name : $"{lv}.scattered");
        }
        return [result];
    }

    /// <summary>
    /// <see cref="MapRoiLevels"/> as ONNX nodes (int64 [K]): floor(log2(√(w·h) / finest_scale + 1e-6)) clamped to
    /// [0, L−1] is the number of k in 1..L−1 with √(w·h) / finest_scale + 1e-6 ≥ 2^k, written so (ONNX has no Log2).
    /// </summary>
    public string ExportMapRoiLevels(OnnxExportContext ctx, string rois, int numLevels, string name)
    {
        string w = ctx.Sub(ctx.Column(rois, 2, $"{name}.x2"), ctx.Column(rois, 0, $"{name}.x1"), $"{name}.w");
        string h = ctx.Sub(ctx.Column(rois, 3, $"{name}.y2"), ctx.Column(rois, 1, $"{name}.y1"), $"{name}.h");
        string scale = ctx.Graph.Node("Sqrt", [ctx.Mul(w, h, $"{name}.area")], $"{name}.scale");
        string ratio = ctx.Add(ctx.Div(scale, ctx.Scalar($"{name}.finest_scale", FinestScale), $"{name}.relative"), ctx.Scalar($"{name}.eps", 1e-6f),
            $"{name}.ratio");
        float[] thresholds = Enumerable.Range(1, numLevels - 1).Select(k => MathF.Pow(2, k)).ToArray();
        string above = ctx.Graph.Node("GreaterOrEqual", [ctx.Unsqueeze(ratio, $"{name}.ratio2d", 1), ctx.Floats($"{name}.thresholds", thresholds)],
            $"{name}.above");
        return ctx.Graph.Node("ReduceSum", [ctx.Cast(above, TensorProto.Types.DataType.Int64, $"{name}.above_int"), ctx.Int64s($"{name}.axes", [1])], name,
            OnnxGraphBuilder.Attr("keepdims", 0L));
    }
}
