using DetSharp.Registry;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>ResNeXt</c> (depth 50/101/152): ResNet whose bottleneck convs are <see cref="Bottleneck.Width"/>
/// channels wide and whose 3×3 conv has <c>groups</c> groups, e.g. x101-32x4d (groups=32, base_width=4) and x101-64x4d.
/// Same keys as ResNet; with groups=1 it is ResNet.
/// </summary>
[Register(Registries.ModelsName, "ResNeXt")]
public sealed class ResNeXt : ResNet
{
    private static readonly Dictionary<int, int[]> Arch = new()
    {
        [50] = [3, 4, 6, 3],
        [101] = [3, 4, 23, 3],
        [152] = [3, 8, 36, 3],
    };

    /// <param name="depth">50, 101 or 152.</param>
    /// <param name="groups">Groups of each bottleneck's 3×3 conv (cardinality).</param>
    /// <param name="baseWidth">Width per group at <c>base_channels</c> planes.</param>
    /// <param name="args">MMDetection's ResNet arguments.</param>
    public ResNeXt(int depth, int groups = 1, int baseWidth = 4, [InheritedArguments] ResNetArguments? args = null)
        : base(PlanOf(depth, groups, baseWidth, WithResNetDefaults(args ?? new ResNetArguments())))
    {
    }

    private static Plan PlanOf(int depth, int groups, int baseWidth, ResNetArguments a)
    {
        if (!Arch.TryGetValue(depth, out var blocks))
            throw new DetSharpException($"ResNeXt: invalid depth {depth}; expected one of 50, 101, 152.");
        if (groups < 1 || baseWidth < 1)
            throw new DetSharpException($"ResNeXt: groups and base_width must be positive, got {groups} and {baseWidth}.");
        int baseChannels = a.BaseChannels!.Value;
        return new Plan("ResNeXt", a, StemKind.ResNet, DoublingPlanes(a), blocks, Bottleneck.Expansion,
            (_, b) => new Bottleneck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg,
                Bottleneck.Width(b.Planes, groups, baseWidth, baseChannels), groups, dcn: b.Dcn, convCfg: b.ConvCfg, plugins: b.Plugins),
            BlocksTakeDcn: true, BlocksTakeConvCfg: true, BlocksTakePlugins: true);
    }
}
