using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>GenericRoIExtractor</c> (GRoIE, Rossi et al.): every RoI is pooled from every level; each level's
/// features pass the optional <c>pre_cfg</c> plugin (<c>pre_module</c>, shared by the levels), then are summed
/// (<c>aggregation='sum'</c>) or laid side by side along the channels (<c>'concat'</c>, which must fill out_channels), and
/// the result passes the optional <c>post_cfg</c> plugin (<c>post_module</c>). With one level the RoIs are only pooled,
/// as in MMDetection.
/// </summary>
[Register(Registries.ModelsName, "GenericRoIExtractor")]
public sealed class GenericRoIExtractor : BaseRoIExtractor
{
    private readonly bool _concat;
    private readonly nn.Module<Tensor, Tensor>? _pre, _post;

    public GenericRoIExtractor(ConfigDict roiLayer, int outChannels, int[] featmapStrides, string aggregation = "sum", ConfigDict? preCfg = null,
        ConfigDict? postCfg = null, object? initCfg = null)
        : base(nameof(GenericRoIExtractor), roiLayer, outChannels, featmapStrides, initCfg)
    {
        _concat = aggregation switch
        {
            "sum" => false,
            "concat" => true,
            _ => throw new DetSharpException($"GenericRoIExtractor: aggregation '{aggregation}' must be 'sum' or 'concat'."),
        };
        // MMDetection builds post_module before pre_module, which orders the state dict.
        if (postCfg is not null)
        {
            _post = PluginLayers.Build(postCfg).Layer;
            register_module("post_module", _post);
        }
        if (preCfg is not null)
        {
            _pre = PluginLayers.Build(preCfg).Layer;
            register_module("pre_module", _pre);
        }
    }

    public override Tensor Forward(IReadOnlyList<Tensor> feats, Tensor rois, double? roiScaleFactor = null)
    {
        using var scope = NewDisposeScope();
        if (feats.Count == 1) return ForwardLevel(feats[0], rois, 0).MoveToOuterDisposeScope();
        var roiFeats = zeros([rois.shape[0], OutChannels, OutputSize.Height, OutputSize.Width], feats[0].dtype, feats[0].device);
        if (rois.shape[0] == 0) return roiFeats.MoveToOuterDisposeScope();
        if (roiScaleFactor is { } f) rois = RoiRescale(rois, f);
        var levels = new List<Tensor>(feats.Count);
        for (int i = 0; i < feats.Count; i++)
        {
            var t = ForwardLevel(feats[i], rois, i);
            levels.Add(_pre is null ? t : _pre.forward(t));
        }
        if (_concat)
        {
            long channels = levels.Sum(t => t.shape[1]);
            if (channels != OutChannels)
                throw new DetSharpException($"GenericRoIExtractor: aggregation='concat' of {feats.Count} levels gives {channels} channels, but out_channels is {OutChannels}; set out_channels={channels}.");
            roiFeats = cat(levels, 1);
        }
        else
        {
            foreach (var t in levels) roiFeats = roiFeats + t;
        }
        if (_post is not null) roiFeats = _post.forward(roiFeats);
        return roiFeats.MoveToOuterDisposeScope();
    }
}
