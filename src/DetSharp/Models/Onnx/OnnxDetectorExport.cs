using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx.Proto;
using static TorchSharp.torch;

namespace DetSharp.Models.Onnx;

/// <summary>
/// Writes a whole detector as one ONNX model: inputs <c>input</c> [1, 3, H, W] (the normalized image, padded to H × W)
/// and <c>img_shape</c> [2] (the resized image's height and width inside the padding, what boxes are clipped to);
/// outputs <c>dets</c> [N, 5], <c>labels</c> [N] (int64) and, for a mask detector, <c>masks</c>. The model writes
/// itself (<see cref="IOnnxDetector"/>). For a fixed input size (<see cref="Export"/>) the feature sizes at H × W come
/// from running its backbone and neck once in libtorch, so that priors are constants; a dynamic export
/// (<see cref="ExportDynamic"/>, MMDeploy's dynamic shapes) leaves H and W symbolic ("height", "width") and computes
/// every size in the graph. <c>metadata</c> goes to the file's metadata_props (the preprocessing a runtime must apply).
/// </summary>
public static class OnnxDetectorExport
{
    /// <summary>The metadata key saying whether the input's height and width are symbolic ("true"/"false").</summary>
    public const string DynamicKey = "dynamic";

    /// <summary>
    /// The metadata key saying where the post-processing is: <see cref="PostprocessInGraph"/> (outputs <c>dets</c>,
    /// <c>labels</c>, <c>masks</c>) or <see cref="PostprocessSkipped"/> (a one-stage detector's raw head outputs).
    /// </summary>
    public const string PostprocessKey = "postprocess";

    public const string PostprocessInGraph = "in_graph";

    /// <summary>
    /// The value of <see cref="PostprocessKey"/> for an export without post-processing: per level <c>cls_score_L</c>,
    /// <c>bbox_pred_L</c> and, for heads with score factors (FCOS's centerness, YOLOX's objectness), <c>score_factor_L</c>.
    /// </summary>
    public const string PostprocessSkipped = "skipped";

    /// <summary>The graph output names of level <paramref name="level"/> in an export without post-processing.</summary>
    public static (string ClsScore, string BboxPred, string ScoreFactor) RawOutputNames(int level) =>
        ($"cls_score_{level}", $"bbox_pred_{level}", $"score_factor_{level}");

    /// <summary>The model for one input size, <paramref name="height"/> × <paramref name="width"/>.</summary>
    public static OnnxGraphBuilder Export(BaseDetector model, long height, long width, int opset = OnnxGraphBuilder.DefaultOpset,
        IReadOnlyDictionary<string, string>? metadata = null, bool skipPostprocess = false)
    {
        var detector = Exportable(model);
        if (height <= 0 || width <= 0) throw new DetSharpException($"ONNX export: the input size must be positive, got {height} x {width}.");
        model.eval();
        List<(long H, long W)> sizes;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            sizes = model.ExtractFeat(zeros(1, 3, height, width, device: device)).Select(f => (f.shape[2], f.shape[3])).ToList();
        }
        var graph = Write(model, detector, opset, height, width, sizes, skipPostprocess);
        graph.Metadata("input_height", height.ToString(System.Globalization.CultureInfo.InvariantCulture));
        graph.Metadata("input_width", width.ToString(System.Globalization.CultureInfo.InvariantCulture));
        graph.Metadata(DynamicKey, "false");
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>()) graph.Metadata(key, value);
        return graph;
    }

    /// <summary>
    /// The model for any input size: <c>input</c> is [1, 3, "height", "width"], the priors are generated in the graph
    /// from each level's feature-map shape. A module whose computation depends on the input size in a way the export
    /// cannot write in the graph is refused, naming it.
    /// </summary>
    public static OnnxGraphBuilder ExportDynamic(BaseDetector model, int opset = OnnxGraphBuilder.DefaultOpset, IReadOnlyDictionary<string, string>? metadata = null,
        bool skipPostprocess = false)
    {
        var detector = Exportable(model);
        model.eval();
        var graph = Write(model, detector, opset, "height", "width", null, skipPostprocess);
        graph.Metadata(DynamicKey, "true");
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>()) graph.Metadata(key, value);
        return graph;
    }

    private static IOnnxDetector Exportable(BaseDetector model) => model as IOnnxDetector
        ?? throw new DetSharpException($"ONNX export: {model.GetType().Name} has no ONNX export; exportable are RetinaNet, FCOS, YOLOX and the two-stage detectors (Faster, Mask, Cascade (Mask) R-CNN).");

    private static OnnxGraphBuilder Write(BaseDetector model, IOnnxDetector detector, int opset, OnnxDim height, OnnxDim width, List<(long H, long W)>? sizes,
        bool skipPostprocess)
    {
        var graph = new OnnxGraphBuilder(model.GetType().Name, opset);
        var ctx = new OnnxExportContext(graph, model);
        string img = graph.Input("input", 1, 3, height, width);
        if (skipPostprocess)
        {
            WriteRawHeadOutputs(model, ctx, img);
            graph.Metadata(PostprocessKey, PostprocessSkipped);
            return graph;
        }
        string imgShape = graph.Input("img_shape", 2);
        // (w, h, w, h): the upper bounds of x1, y1, x2, y2.
        string boxMax = graph.Node("Gather", [imgShape, ctx.Int64s("img_shape.xyxy_index", [1, 0, 1, 0])], "img_shape.box_max", OnnxGraphBuilder.Attr("axis", 0L));
        var outputs = detector.ExportSimpleTest(ctx, new OnnxImageInputs(img, imgShape, boxMax, sizes));
        // The outputs under fixed names, whatever the model called the values.
        graph.Output(graph.Node("Identity", [outputs.Dets], "dets"), "num_dets", 5);
        graph.Output(graph.Node("Identity", [outputs.Labels], "labels"), TensorProto.Types.DataType.Int64, "num_dets");
        if (outputs.Masks is not null) graph.Output(graph.Node("Identity", [outputs.Masks], "masks"), "num_dets", "mask_height", "mask_width");
        graph.Metadata(PostprocessKey, PostprocessInGraph);
        return graph;
    }

    /// <summary>
    /// MMDetection's <c>--skip-postprocess</c> (<c>forward_dummy</c>): the features and the dense head's forward, its maps of
    /// every level as the outputs (<see cref="RawOutputNames"/>). Two-stage detectors are refused, as MMDetection warns
    /// they cannot be exported so: their RoI head runs on the RPN's post-processed proposals.
    /// </summary>
    private static void WriteRawHeadOutputs(BaseDetector model, OnnxExportContext ctx, string img)
    {
        if (model is not SingleStageDetector oneStage)
            throw new DetSharpException($"ONNX export without post-processing (--skip-postprocess) is for one-stage detectors (RetinaNet, FCOS, YOLOX): "
                                        + $"{model.GetType().Name}'s RoI head runs on the RPN's post-processed proposals, so its post-processing must be in the "
                                        + "graph. Export it without --skip-postprocess.");
        var raw = oneStage.BboxHead.ExportRawOutputs(ctx, model.ExportFeatOnnx(ctx, img));
        for (int l = 0; l < raw.ClsScores.Count; l++)
        {
            var (clsName, bboxName, factorName) = RawOutputNames(l);
            ctx.Graph.Output(ctx.Graph.Node("Identity", [raw.ClsScores[l]], clsName), 1, $"{clsName}_channels", $"{clsName}_height", $"{clsName}_width");
            ctx.Graph.Output(ctx.Graph.Node("Identity", [raw.BboxPreds[l]], bboxName), 1, $"{bboxName}_channels", $"{clsName}_height", $"{clsName}_width");
            if (raw.ScoreFactors is { } factors)
                ctx.Graph.Output(ctx.Graph.Node("Identity", [factors[l]], factorName), 1, $"{factorName}_channels", $"{clsName}_height", $"{clsName}_width");
        }
    }
}
