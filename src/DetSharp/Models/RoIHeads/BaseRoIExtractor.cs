using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>BaseRoIExtractor</c>: one RoI layer per feature level (<c>roi_layers</c>, built from <c>roi_layer</c>
/// with spatial scale 1/stride: mmcv's RoIAlign, or DeformRoIPoolPack / ModulatedDeformRoIPoolPack), <c>out_channels</c>,
/// <c>featmap_strides</c> and <c>roi_rescale</c>. RoIAlign has no parameters; the deformable layers have one set per level,
/// under <c>roi_layers.i</c>. Subclasses decide how the levels make one RoI feature (<see cref="Forward"/>).
/// </summary>
public abstract class BaseRoIExtractor : nn.Module, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly RoIAlignOptions[] _layers;
    private readonly DeformRoIPoolPack[]? _deformLayers;

    protected BaseRoIExtractor(string name, ConfigDict roiLayer, int outChannels, int[] featmapStrides, object? initCfg)
        : base(name)
    {
        InitCfg = initCfg;
        string type = roiLayer.Get<string>("type");
        if (type is not ("RoIAlign" or "DeformRoIPoolPack" or "ModulatedDeformRoIPoolPack"))
            throw new DetSharpException(
                $"{name}: roi_layer type '{type}' is not supported (use RoIAlign, DeformRoIPoolPack or ModulatedDeformRoIPoolPack).");
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
        if (type == "RoIAlign")
        {
            var mode = RoIAlignOptions.ParsePoolMode(roiLayer.Get("pool_mode", "avg"));
            bool aligned = roiLayer.Get("aligned", true);
            foreach (var key in roiLayer.Keys)
                if (key is not ("type" or "output_size" or "sampling_ratio" or "pool_mode" or "aligned" or "use_torchvision"))
                    throw new DetSharpException($"{name}: unexpected roi_layer key '{key}' for RoIAlign.");
            _layers = featmapStrides.Select(s => new RoIAlignOptions(oh, ow, (float)(1.0 / s), sampling, mode, aligned)).ToArray();
        }
        else
        {
            foreach (var key in roiLayer.Keys)
                if (key is not ("type" or "output_size" or "sampling_ratio" or "output_channels" or "deform_fc_channels" or "gamma"))
                    throw new DetSharpException($"{name}: unexpected roi_layer key '{key}' for {type}.");
            if (!roiLayer.Has("output_channels"))
                throw new DetSharpException($"{name}: roi_layer {type} needs output_channels (the feature maps' channels, e.g. 256).");
            long outputChannels = roiLayer.Get<long>("output_channels");
            long fcChannels = roiLayer.Get("deform_fc_channels", 1024L);
            double gamma = roiLayer.Get("gamma", 0.1);
            _layers = [];
            _deformLayers = featmapStrides.Select(s => new DeformRoIPoolPack(type == "ModulatedDeformRoIPoolPack", (oh, ow), outputChannels,
                fcChannels, 1.0 / s, sampling, gamma)).ToArray();
            register_module("roi_layers", nn.ModuleList(_deformLayers));
        }
        OutChannels = outChannels;
        FeatmapStrides = featmapStrides;
        OutputSize = (oh, ow);
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int OutChannels { get; }

    public int[] FeatmapStrides { get; }

    public (int Height, int Width) OutputSize { get; }

    /// <summary>Number of feature levels it reads (<c>num_inputs</c>).</summary>
    public int NumInputs => FeatmapStrides.Length;

    /// <summary>Pools [K, C, oh, ow] features for <paramref name="rois"/> [K, 5] from the first <see cref="NumInputs"/> maps.</summary>
    public abstract Tensor Forward(IReadOnlyList<Tensor> feats, Tensor rois, double? roiScaleFactor = null);

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

    /// <summary><c>roi_layers[level](feat, rois)</c>: every RoI pooled from one given level.</summary>
    public Tensor ForwardLevel(Tensor feat, Tensor rois, int level) =>
        _deformLayers is not null ? _deformLayers[level].forward(feat, rois) : RoIAlign.Apply(feat, rois, _layers[level]);

    /// <summary>
    /// <see cref="ForwardLevel"/> as ONNX nodes: every RoI of <paramref name="rois"/> [K, 4] (x1, y1, x2, y2, one image)
    /// pooled from one level by ONNX <c>RoiAlign</c>. mmcv's <c>aligned=True</c> is <c>coordinate_transformation_mode=
    /// 'half_pixel'</c> (the −0.5 shift, no minimum RoI size), False is 'output_half_pixel' (RoIs at least 1×1); both
    /// take ceil(roi_size / output_size) samples per bin for sampling_ratio 0. A zero-width or zero-height RoI then has 0
    /// samples per bin: mmcv divides the bin's sum by max(count, 1) and pools 0, as ONNX Runtime's CPU kernel does, but its
    /// CUDA kernel divides 0 by 0 (NaN, with 'half_pixel' and 'avg'), which the graph sets back to 0 (<c>Where(IsNaN)</c>;
    /// a feature from the network is never NaN). Max pooling of such a RoI stays ONNX Runtime's 0 (mmcv: −10000).
    /// Deformable RoI pooling has no ONNX operator.
    /// </summary>
    public string ExportLevel(OnnxExportContext ctx, int level, string feat, string rois, string name)
    {
        if (_deformLayers is not null) throw ctx.Unsupported(this, "deformable RoI pooling; use roi_layer=dict(type='RoIAlign', ...)");
        var o = _layers[level];
        string batch = ctx.Graph.Node("Expand", [ctx.ScalarInt($"{name}.batch", 0), ctx.Dim(rois, 0, $"{name}.count")], $"{name}.batch_indices");
        bool emptyBinsAreNaN = o.Aligned && o.SamplingRatio == 0 && o.Mode == RoIAlignPoolMode.Avg;
        string pooled = ctx.Graph.Node("RoiAlign", [feat, rois, batch], emptyBinsAreNaN ? $"{name}.pooled" : name,
            OnnxGraphBuilder.Attr("coordinate_transformation_mode", o.Aligned ? "half_pixel" : "output_half_pixel"),
            OnnxGraphBuilder.Attr("mode", o.Mode == RoIAlignPoolMode.Avg ? "avg" : "max"),
            OnnxGraphBuilder.Attr("output_height", (long)o.OutputHeight), OnnxGraphBuilder.Attr("output_width", (long)o.OutputWidth),
            OnnxGraphBuilder.Attr("sampling_ratio", (long)o.SamplingRatio), OnnxGraphBuilder.Attr("spatial_scale", o.SpatialScale));
        if (!emptyBinsAreNaN) return pooled;
        string nan = ctx.Graph.Node("IsNaN", [pooled], $"{name}.empty_bins");
        return ctx.Graph.Node("Where", [nan, ctx.Scalar($"{name}.zero", 0f), pooled], name);
    }
}
