using DetSharp.Config;
using DetSharp.Models.Common;
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
