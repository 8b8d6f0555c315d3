using DetSharp.Config;
using DetSharp.Registry;

namespace DetSharp.Models.Backbones;

/// <summary>
/// The constructor arguments MMDetection's <c>ResNet</c> shares with the backbones built on it (ResNeXt, RegNet,
/// Res2Net, ResNeSt), under MMDetection's names; each takes them as one <see cref="InheritedArgumentsAttribute"/>
/// parameter. A null entry takes the family's own default (e.g. <c>strides</c> (1, 2, 2, 2) for ResNet, (2, 2, 2, 2)
/// for RegNet; <c>deep_stem</c> off for ResNet, on for ResNeSt).
/// </summary>
public sealed record ResNetArguments(
    int InChannels = 3,
    int? StemChannels = null,
    int? BaseChannels = null,
    int? NumStages = null,
    int[]? Strides = null,
    int[]? Dilations = null,
    int[]? OutIndices = null,
    ResNetStyle? Style = null,
    bool? DeepStem = null,
    bool? AvgDown = null,
    int FrozenStages = -1,
    ConfigDict? ConvCfg = null,
    ConfigDict? NormCfg = null,
    bool NormEval = true,
    ConfigDict? Dcn = null,
    bool[]? StageWithDcn = null,
    object? Plugins = null,
    bool WithCp = false,
    bool ZeroInitResidual = true,
    string? Pretrained = null,
    object? InitCfg = null);
