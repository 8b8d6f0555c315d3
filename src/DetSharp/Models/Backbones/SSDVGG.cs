using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>SSDVGG</c>: mmcv's <c>VGG</c> (depth 11/13/16/19, no BatchNorm; each stage's 3×3 convs with ReLU and a
/// 2×2 stride-2 max pool, <c>ceil_mode</c>, the last pool dropped unless <c>with_last_pool</c>; widths 64, 128, 256, 512,
/// 512) with SSD's fc6/fc7 appended to the same <c>features</c> sequence: a 3×3 stride-1 max pool, a 3×3 conv 512→1024
/// with dilation 6 (padding 6), ReLU, a 1×1 conv 1024→1024, ReLU. Keys are <c>features.N.weight</c> with N the
/// position in that sequence (pools and ReLUs count). Returns the outputs of the positions in
/// <c>out_feature_indices</c> (22 and 34 for VGG-16: conv4_3's and fc7's ReLUs). Since 2.28 the L2Norm and the extra
/// layers live in <see cref="Necks.SSDNeck"/>; <c>out_indices</c>, <c>input_size</c> and <c>l2_norm_scale</c> are accepted
/// and unused, as in MMDetection (its forward reads only <c>out_feature_indices</c>). Convs are Kaiming-initialised
/// (fan_out, ReLU), MMDetection's default without pretrained weights.
/// </summary>
[Register(Registries.ModelsName, "SSDVGG")]
public sealed class SSDVGG : nn.Module<Tensor, Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>mmcv's <c>VGG.arch_settings</c>: convs per stage.</summary>
    private static readonly Dictionary<int, int[]> Arch = new()
    {
        [11] = [1, 1, 2, 2, 2],
        [13] = [2, 2, 2, 2, 2],
        [16] = [2, 2, 3, 3, 3],
        [19] = [2, 2, 4, 4, 4],
    };

    private readonly List<nn.Module<Tensor, Tensor>> _features = [];
    private readonly HashSet<int> _outFeatureIndices;

    public SSDVGG(int depth, bool withLastPool = false, bool ceilMode = true, int[]? outIndices = null, int[]? outFeatureIndices = null,
        string? pretrained = null, object? initCfg = null, int? inputSize = null, double? l2NormScale = null)
        : base(nameof(SSDVGG))
    {
        _ = (outIndices, inputSize, l2NormScale); // accepted for MMDetection's signature; its forward does not read them
        if (!Arch.TryGetValue(depth, out var blocks))
            throw new DetSharpException($"SSDVGG: depth {depth} is not one of 11, 13, 16, 19.");
        if (initCfg is not null && pretrained is not null)
            throw new DetSharpException("SSDVGG: init_cfg and pretrained cannot be specified at the same time.");
        InitCfg = initCfg ?? (pretrained is null ? null : new Config.ConfigDict { ["type"] = "Pretrained", ["checkpoint"] = pretrained });
        int inPlanes = 3;
        for (int stage = 0; stage < blocks.Length; stage++)
        {
            int planes = stage < 4 ? 64 << stage : 512;
            for (int b = 0; b < blocks[stage]; b++)
            {
                _features.Add(nn.Conv2d(inPlanes, planes, 3, padding: 1));
                _features.Add(nn.ReLU());
                inPlanes = planes;
            }
            if (stage < blocks.Length - 1 || withLastPool) _features.Add(nn.MaxPool2d(2, 2, ceil_mode: ceilMode));
        }
        _features.Add(nn.MaxPool2d(3, 1, 1));
        _features.Add(nn.Conv2d(512, 1024, 3, padding: 6, dilation: 6));
        _features.Add(nn.ReLU());
        _features.Add(nn.Conv2d(1024, 1024, 1));
        _features.Add(nn.ReLU());
        var indices = outFeatureIndices ?? [22, 34];
        foreach (int i in indices)
            if (i < 0 || i >= _features.Count)
                throw new DetSharpException($"SSDVGG: out_feature_indices entry {i} is outside the {_features.Count} layers of features (depth {depth}).");
        _outFeatureIndices = [.. indices];
        register_module("features", nn.Sequential(_features.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (nn.Module<Tensor, Tensor>)m))));
        foreach (var m in _features)
            if (m is TorchSharp.Modules.Conv2d conv) ModuleTools.KaimingInit(conv);
    }

    /// <summary>The <c>init_cfg</c> as given (or the deprecated <c>pretrained</c> as a 'Pretrained' entry).</summary>
    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor x)
    {
        var outs = new List<Tensor>(_outFeatureIndices.Count);
        for (int i = 0; i < _features.Count; i++)
        {
            x = _features[i].forward(x);
            if (_outFeatureIndices.Contains(i)) outs.Add(x);
        }
        return [.. outs];
    }
}
