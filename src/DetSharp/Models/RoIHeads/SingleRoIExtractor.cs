using DetSharp.Config;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>SingleRoIExtractor</c>: each RoI is pooled (mmcv RoIAlign, <c>roi_layer</c>) from one level,
/// <c>floor(log2(√(w·h) / finest_scale + 1e-6))</c> clamped to [0, L−1], with spatial scale 1/stride of that level.
/// No parameters.
/// </summary>
[Register(Registries.ModelsName, "SingleRoIExtractor")]
public sealed class SingleRoIExtractor : nn.Module, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly RoIAlignOptions[] _layers;

    public SingleRoIExtractor(ConfigDict roiLayer, int outChannels, int[] featmapStrides, int finestScale = 56, object? initCfg = null)
        : base(nameof(SingleRoIExtractor))
    {
        InitCfg = initCfg;
        string type = roiLayer.Get<string>("type");
        if (type != "RoIAlign") throw new DetSharpException($"SingleRoIExtractor: roi_layer type '{type}' is not supported (use RoIAlign).");
        int oh, ow;
        var os = roiLayer["output_size"];
        if (os is long l) oh = ow = (int)l;
        else
        {
            var pair = roiLayer.Get<int[]>("output_size");
            oh = pair[0];
            ow = pair[1];
        }
        int sampling = roiLayer.Get("sampling_ratio", 0);
        var mode = RoIAlignOptions.ParsePoolMode(roiLayer.Get("pool_mode", "avg"));
        bool aligned = roiLayer.Get("aligned", true);
        foreach (var key in roiLayer.Keys)
            if (key is not ("type" or "output_size" or "sampling_ratio" or "pool_mode" or "aligned" or "use_torchvision"))
                throw new DetSharpException($"SingleRoIExtractor: unexpected roi_layer key '{key}'.");
        _layers = featmapStrides.Select(s => new RoIAlignOptions(oh, ow, (float)(1.0 / s), sampling, mode, aligned)).ToArray();
        OutChannels = outChannels;
        FeatmapStrides = featmapStrides;
        FinestScale = finestScale;
        OutputSize = (oh, ow);
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int OutChannels { get; }

    public int[] FeatmapStrides { get; }

    public int FinestScale { get; }

    public (int Height, int Width) OutputSize { get; }

    /// <summary>Number of feature levels it reads (<c>num_inputs</c>).</summary>
    public int NumInputs => FeatmapStrides.Length;

    /// <summary><c>map_roi_levels</c>.</summary>
    public Tensor MapRoiLevels(Tensor rois, int numLevels)
    {
        var scale = sqrt((rois[.., 3] - rois[.., 1]) * (rois[.., 4] - rois[.., 2]));
        var lvls = floor(log2(scale / FinestScale + 1e-6));
        return lvls.clamp(0, numLevels - 1).to_type(ScalarType.Int64);
    }

    /// <summary><c>roi_rescale</c>: scales each RoI about its centre.</summary>
    public static Tensor RoiRescale(Tensor rois, double scaleFactor)
    {
        var cx = (rois[.., 1] + rois[.., 3]) * 0.5;
        var cy = (rois[.., 2] + rois[.., 4]) * 0.5;
        var w = rois[.., 3] - rois[.., 1];
        var h = rois[.., 4] - rois[.., 2];
        var nw = w * scaleFactor;
        var nh = h * scaleFactor;
        return stack([rois[.., 0], cx - nw * 0.5, cy - nh * 0.5, cx + nw * 0.5, cy + nh * 0.5], -1);
    }

    /// <summary>Pools [K, C, oh, ow] features for <paramref name="rois"/> [K, 5] from the first <see cref="NumInputs"/> maps.</summary>
    public Tensor Forward(IReadOnlyList<Tensor> feats, Tensor rois, double? roiScaleFactor = null)
    {
        using var scope = NewDisposeScope();
        int numLevels = NumInputs;
        var roiFeats = zeros([rois.shape[0], OutChannels, OutputSize.Height, OutputSize.Width], feats[0].dtype, feats[0].device);
        if (rois.shape[0] == 0) return roiFeats.MoveToOuterDisposeScope();
        if (numLevels == 1)
            return RoIAlign.Apply(feats[0], rois, _layers[0]).MoveToOuterDisposeScope();
        var target = MapRoiLevels(rois, numLevels);
        if (roiScaleFactor is { } f) rois = RoiRescale(rois, f);
        for (int i = 0; i < numLevels; i++)
        {
            var inds = nonzero(target == i).view(-1);
            if (inds.numel() == 0) continue;
            var t = RoIAlign.Apply(feats[i], rois[inds], _layers[i]);
            roiFeats = roiFeats.index_put_(t, TensorIndex.Tensor(inds));
        }
        return roiFeats.MoveToOuterDisposeScope();
    }

    /// <summary>Pools every RoI from one given level (used by Consistent Supervision).</summary>
    public Tensor ForwardLevel(Tensor feat, Tensor rois, int level) => RoIAlign.Apply(feat, rois, _layers[level]);
}
