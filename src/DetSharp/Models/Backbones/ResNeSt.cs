using DetSharp.Registry;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>ResNeSt</c> (depth 50/101/152/200): a ResNetV1d (deep stem and avg_down shortcuts, always) of
/// <see cref="ResNeStBottleneck"/>s, whose 3×3 conv is a <see cref="SplitAttentionConv2d"/> with <c>radix</c> splits
/// and <c>reduction_factor</c>; <c>avg_down_stride</c> moves a block's stride to an average pool after it.
/// </summary>
[Register(Registries.ModelsName, "ResNeSt")]
public sealed class ResNeSt : ResNet
{
    private static readonly Dictionary<int, int[]> Arch = new()
    {
        [50] = [3, 4, 6, 3],
        [101] = [3, 4, 23, 3],
        [152] = [3, 8, 36, 3],
        [200] = [3, 24, 36, 3],
    };

    /// <param name="depth">50, 101, 152 or 200.</param>
    /// <param name="groups">Groups of the split-attention conv.</param>
    /// <param name="baseWidth">Width per group at <c>base_channels</c> planes (with groups > 1).</param>
    /// <param name="radix">Splits of the split-attention conv.</param>
    /// <param name="reductionFactor">Reduction of its attention's inner channels.</param>
    /// <param name="avgDownStride">Take a block's stride with a 3×3 average pool after the split-attention conv.</param>
    /// <param name="args">MMDetection's ResNet arguments; deep_stem and avg_down are fixed by ResNetV1d.</param>
    public ResNeSt(int depth, int groups = 1, int baseWidth = 4, int radix = 2, int reductionFactor = 4, bool avgDownStride = true,
        [InheritedArguments] ResNetArguments? args = null)
        : base(PlanOf(depth, groups, baseWidth, radix, reductionFactor, avgDownStride, args ?? new ResNetArguments()))
    {
    }

    private static Plan PlanOf(int depth, int groups, int baseWidth, int radix, int reductionFactor, bool avgDownStride, ResNetArguments a)
    {
        if (!Arch.TryGetValue(depth, out var blocks))
            throw new DetSharpException($"ResNeSt: invalid depth {depth}; expected one of 50, 101, 152, 200.");
        a = WithResNetDefaults(a with
        {
            DeepStem = Fixed("ResNeSt", "deep_stem", a.DeepStem, true),
            AvgDown = Fixed("ResNeSt", "avg_down", a.AvgDown, true),
        });
        int baseChannels = a.BaseChannels!.Value;
        return new Plan("ResNeSt", a, StemKind.ResNet, DoublingPlanes(a), blocks, ResNeStBottleneck.Expansion,
            (_, b) => new ResNeStBottleneck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg,
                groups, baseWidth, baseChannels, radix, reductionFactor, avgDownStride));
    }
}
