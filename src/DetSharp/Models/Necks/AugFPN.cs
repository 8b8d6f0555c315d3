using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Models.Onnx.Proto;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// AugFPN (Guo et al., CVPR 2020) as a neck with FPN's constructor: exactly <see cref="FPN"/> plus Residual Feature
/// Augmentation with Adaptive Spatial Fusion on the top level. MMDetection ships no AugFPN; parameter names follow the
/// official code (Gus-Guo/AugFPN) so its checkpoints map.
/// <para>Computation, with C = the last input (e.g. C5, h×w, <c>in_channels[-1]</c> channels), N = <c>out_channels</c>,
/// ratios α_k = <c>pool_ratios</c> (default 0.1, 0.2, 0.3):</para>
/// <list type="number">
/// <item>for each k: <c>adaptive_avg_pool2d(C, (max(1, ⌊α_k·h⌋), max(1, ⌊α_k·w⌋)))</c> → 1×1 conv
/// <c>high_lateral_conv.k</c> (in_channels[-1] → N, with bias) → bilinear upsampling to h×w with align_corners=True
/// → R_k;</item>
/// <item>Adaptive Spatial Fusion: <c>high_lateral_conv_attention</c> = Sequential(1×1 conv 3N → N, ReLU, 3×3 conv
/// N → K, padding 1) on concat(R_1..R_K), then sigmoid → per-pixel weights w_k; fused = Σ_k w_k · R_k;</item>
/// <item>the fused residual is added to the top lateral map M5 (after its 1×1 lateral conv, before the top-down
/// pathway); the rest is FPN: top-down nearest upsampling, 3×3 <c>fpn_convs</c>, extra levels.</item>
/// </list>
/// With the default ratios and 2048 → 256 channels this adds 1,777,411 parameters to FPN.
/// <para>Consistent Supervision (training only): with <c>consistent_supervision=True</c> the neck keeps the raw lateral
/// maps M2..M5 and returns them beside its outputs (<see cref="ForwardWithAuxiliary"/>); the detector hands them to a
/// <c>CascadeRoIHead</c>/<c>StandardRoIHead</c> with
/// <c>aux_loss_weight</c> &gt; 0 (default 0.25) then pools each sampled RoI from every lateral level, runs the first
/// stage's bbox head on each, and adds the per-level classification and regression losses times the weight
/// (<c>loss_cls_aux</c>, <c>loss_bbox_aux</c>). At inference nothing changes.</para>
/// </summary>
[Register(Registries.ModelsName, "AugFPN")]
public sealed class AugFPN : FPN, IAuxiliaryNeck
{
    private readonly double[] _poolRatios;
    private readonly List<TorchSharp.Modules.Conv2d> _highLateral = [];
    private readonly nn.Module<Tensor, Tensor> _attention;

    public AugFPN([InheritedArguments] FPNArguments fpn, double[]? poolRatios = null, bool consistentSupervision = false)
        : base(nameof(AugFPN), fpn)
    {
        var (inChannels, outChannels) = (fpn.InChannels, fpn.OutChannels);
        _poolRatios = poolRatios ?? [0.1, 0.2, 0.3];
        ConsistentSupervision = consistentSupervision;
        int top = inChannels[BackboneEndLevel - 1];
        foreach (var _ in _poolRatios)
            _highLateral.Add(nn.Conv2d(top, outChannels, 1));
        register_module("high_lateral_conv", nn.ModuleList(_highLateral.ToArray()));
        var att0 = nn.Conv2d(outChannels * _poolRatios.Length, outChannels, 1);
        var att2 = nn.Conv2d(outChannels, _poolRatios.Length, 3, padding: 1);
        _attention = nn.Sequential(("0", att0), ("1", nn.ReLU()), ("2", att2));
        register_module("high_lateral_conv_attention", _attention);
        foreach (var c in _highLateral) ModuleTools.XavierUniformInit(c);
        ModuleTools.XavierUniformInit(att0);
        ModuleTools.XavierUniformInit(att2);
    }

    /// <summary>Whether the raw laterals are kept for Consistent Supervision (config key <c>consistent_supervision</c>).</summary>
    public bool ConsistentSupervision { get; }

    /// <summary>Residual Feature Augmentation with Adaptive Spatial Fusion on the top input map.</summary>
    public Tensor ResidualFeatureAugmentation(Tensor top)
    {
        long h = top.shape[2], w = top.shape[3];
        var pooled = new List<Tensor>();
        for (int k = 0; k < _poolRatios.Length; k++)
        {
            long ph = Math.Max(1, (long)Math.Floor(h * _poolRatios[k]));
            long pw = Math.Max(1, (long)Math.Floor(w * _poolRatios[k]));
            var p = nn.functional.adaptive_avg_pool2d(top, [ph, pw]);
            p = _highLateral[k].forward(p);
            pooled.Add(nn.functional.interpolate(p, size: [h, w], mode: InterpolationMode.Bilinear, align_corners: true));
        }
        var weights = torch.sigmoid(_attention.forward(torch.cat(pooled, 1)));
        Tensor fused = weights[.., 0..1] * pooled[0];
        for (int k = 1; k < pooled.Count; k++)
            fused = fused + weights[.., k..(k + 1)] * pooled[k];
        return fused;
    }

    /// <summary>
    /// The eval-mode forward as ONNX nodes: FPN's laterals, the top one plus <see cref="ResidualFeatureAugmentation"/>,
    /// then FPN's top-down pathway and outputs (Consistent Supervision's raw laterals are a training output only).
    /// </summary>
    public override IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        var laterals = new List<string>();
        for (int i = 0; i < LateralConvs.Count; i++) laterals.Add(ctx.Forward(LateralConvs[i], inputs[i + StartLevel]));
        laterals[^1] = ctx.Add(laterals[^1], ExportResidualFeatureAugmentation(ctx, inputs[BackboneEndLevel - 1]), ctx.ValueName(this, "augmented_top"));
        return ExportTopDown(ctx, inputs, laterals);
    }

    /// <summary>
    /// <see cref="ResidualFeatureAugmentation"/> as ONNX nodes. ONNX has no adaptive average pooling, so each ratio's
    /// pooling is written as torch computes it, from the map's size in the graph (any input size): bin i of n over a
    /// side of length L averages [floor(i·L/n), ceil((i+1)·L/n)), a [n, L] averaging matrix applied to rows and columns
    /// by MatMul, with n = max(1, floor(L·ratio)) in float64. The pooled maps go through their 1×1 convs, bilinear
    /// (align_corners) back to the map's size, and are fused by the attention's sigmoid weights.
    /// </summary>
    private string ExportResidualFeatureAugmentation(OnnxExportContext ctx, string top)
    {
        string name = ctx.ValueName(this, "rfa");
        string h = ctx.Gather(ctx.Shape(top, $"{name}.shape"), ctx.ScalarInt($"{name}.h_index", 2), 0, $"{name}.h");
        string w = ctx.Gather(ctx.Shape(top, $"{name}.shape_w"), ctx.ScalarInt($"{name}.w_index", 3), 0, $"{name}.w");
        var pooled = new List<string>();
        for (int k = 0; k < _poolRatios.Length; k++)
        {
            string pk = $"{name}.pool{k}";
            string rows = AdaptiveAverageMatrix(ctx, h, _poolRatios[k], $"{pk}.rows");
            string cols = AdaptiveAverageMatrix(ctx, w, _poolRatios[k], $"{pk}.cols");
            // [n_h, H] · x [1, C, H, W] · [n_w, W]ᵀ = [1, C, n_h, n_w].
            string p = ctx.Graph.Node("MatMul", [ctx.Graph.Node("MatMul", [rows, top], $"{pk}.row_pooled"), ctx.Transpose(cols, $"{pk}.cols_t", 1, 0)], pk);
            p = ctx.Forward(_highLateral[k], p);
            pooled.Add(ctx.ResizeLike(p, top, $"{pk}.resized", "bilinear", alignCorners: true));
        }
        string weights = ctx.Sigmoid(ctx.Forward(_attention, ctx.Concat(pooled, $"{name}.pooled", 1)), $"{name}.weights");
        string fused = ctx.Mul(ctx.Slice(weights, 1, 0, 1, $"{name}.w0"), pooled[0], $"{name}.fused0");
        for (int k = 1; k < pooled.Count; k++)
            fused = ctx.Add(fused, ctx.Mul(ctx.Slice(weights, 1, k, k + 1, $"{name}.w{k}"), pooled[k], $"{name}.weighted{k}"), $"{name}.fused{k}");
        return fused;
    }

    /// <summary>
    /// torch's adaptive average pooling of a side of <paramref name="length"/> (an int64 scalar in the graph) into
    /// max(1, floor(length·ratio)) bins, as a float [bins, length] matrix of 1/bin-size over each bin's range. The bin
    /// count is integer arithmetic on the ratio as a decimal fraction (0.3 = 3/10), checked at export time to equal the
    /// float64 product's floor for every side up to 16384.
    /// </summary>
    private string AdaptiveAverageMatrix(OnnxExportContext ctx, string length, double ratio, string name)
    {
        var (num, den) = DecimalFraction(ctx, ratio);
        var g = ctx.Graph;
        string bins = g.Node("Max", [ctx.Div(ctx.Mul(length, ctx.ScalarInt($"{name}.ratio_num", num), $"{name}.scaled"), ctx.ScalarInt($"{name}.ratio_den", den),
            $"{name}.floor"), ctx.ScalarInt($"{name}.one", 1)], $"{name}.bins");
        string i = ctx.Unsqueeze(ctx.Range(bins, $"{name}.bin_index"), $"{name}.bin_col", 1);
        string start = ctx.Div(ctx.Mul(i, length, $"{name}.start_num"), bins, $"{name}.start");
        string endNum = ctx.Add(ctx.Mul(ctx.Add(i, ctx.ScalarInt($"{name}.next", 1), $"{name}.i1"), length, $"{name}.end_prod"),
            ctx.Sub(bins, ctx.ScalarInt($"{name}.round_up", 1), $"{name}.bins_m1"), $"{name}.end_num");
        string end = ctx.Div(endNum, bins, $"{name}.end");
        string pos = ctx.Unsqueeze(ctx.Range(length, $"{name}.positions"), $"{name}.pos_row", 0);
        string inside = g.Node("And", [g.Node("GreaterOrEqual", [pos, start], $"{name}.after_start"), g.Node("Less", [pos, end], $"{name}.before_end")],
            $"{name}.inside");
        string size = ctx.Cast(ctx.Sub(end, start, $"{name}.size_int"), TensorProto.Types.DataType.Float, $"{name}.size");
        return ctx.Div(ctx.Cast(inside, TensorProto.Types.DataType.Float, $"{name}.mask"), size, name);
    }

    private (long Num, long Den) DecimalFraction(OnnxExportContext ctx, double ratio)
    {
        decimal d = (decimal)ratio;
        long den = 1;
        while (decimal.Truncate(d * den) != d * den && den < 1_000_000) den *= 10;
        long num = (long)(d * den);
        for (long length = 1; length <= 16384; length++)
            if ((long)Math.Floor(length * ratio) != length * num / den)
                throw ctx.Unsupported(this, $"pool_ratios {ratio}: no exact integer form of floor(size · ratio)");
        return (num, den);
    }

    public override Tensor[] forward(Tensor[] inputs) => ForwardWithAuxiliary(inputs).Outs;

    /// <summary>
    /// The FPN outputs, and in training with <c>consistent_supervision</c> the raw lateral maps M2..M5 (before the
    /// residual and the top-down sums) for the RoI head's auxiliary losses; null otherwise.
    /// </summary>
    public (Tensor[] Outs, Tensor[]? Auxiliary) ForwardWithAuxiliary(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var laterals = Laterals(inputs);
        Tensor[]? kept = ConsistentSupervision && training ? laterals.ToArray() : null;
        laterals[^1] = laterals[^1] + ResidualFeatureAugmentation(inputs[BackboneEndLevel - 1]);
        var outs = TopDown(inputs, laterals);
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        if (kept is not null)
            foreach (var t in kept) t.MoveToOuterDisposeScope();
        return (outs, kept);
    }
}
