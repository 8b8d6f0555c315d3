using DetSharp.Config;
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
    : BaseRoIExtractor(nameof(SingleRoIExtractor), roiLayer, outChannels, featmapStrides, initCfg)
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
}
