using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx.Proto;
using static TorchSharp.torch;

namespace DetSharp.Models.Onnx;

/// <summary>
/// Writes a whole detector as one ONNX model for a fixed input size: inputs <c>input</c> [1, 3, H, W] (the normalized
/// image, padded to H × W) and <c>img_shape</c> [2] (the resized image's height and width inside the padding, what
/// boxes are clipped to); outputs <c>dets</c> [N, 5], <c>labels</c> [N] (int64) and, for a mask detector, <c>masks</c>.
/// The model writes itself (<see cref="IOnnxDetector"/>); the feature sizes at H × W come from running its backbone and
/// neck once in libtorch, so that priors are constants. <paramref name="metadata"/> goes to the file's metadata_props
/// (the preprocessing a runtime must apply).
/// </summary>
public static class OnnxDetectorExport
{
    public static OnnxGraphBuilder Export(BaseDetector model, long height, long width, int opset = OnnxGraphBuilder.DefaultOpset,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (model is not IOnnxDetector detector)
            throw new DetSharpException($"ONNX export: {model.GetType().Name} has no ONNX export; exportable are RetinaNet and the two-stage detectors (Faster, Mask, Cascade (Mask) R-CNN).");
        if (height <= 0 || width <= 0) throw new DetSharpException($"ONNX export: the input size must be positive, got {height} x {width}.");
        model.eval();
        List<(long H, long W)> sizes;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            sizes = model.ExtractFeat(zeros(1, 3, height, width, device: device)).Select(f => (f.shape[2], f.shape[3])).ToList();
        }
        var graph = new OnnxGraphBuilder(model.GetType().Name, opset);
        var ctx = new OnnxExportContext(graph, model);
        string img = graph.Input("input", 1, 3, height, width);
        string imgShape = graph.Input("img_shape", 2);
        // (w, h, w, h): the upper bounds of x1, y1, x2, y2.
        string boxMax = graph.Node("Gather", [imgShape, ctx.Int64s("img_shape.xyxy_index", [1, 0, 1, 0])], "img_shape.box_max", OnnxGraphBuilder.Attr("axis", 0L));
        var outputs = detector.ExportSimpleTest(ctx, new OnnxImageInputs(img, imgShape, boxMax, height, width, sizes));
        // The outputs under fixed names, whatever the model called the values.
        graph.Output(graph.Node("Identity", [outputs.Dets], "dets"), "num_dets", 5);
        graph.Output(graph.Node("Identity", [outputs.Labels], "labels"), TensorProto.Types.DataType.Int64, "num_dets");
        if (outputs.Masks is not null) graph.Output(graph.Node("Identity", [outputs.Masks], "masks"), "num_dets", "mask_height", "mask_width");
        graph.Metadata("input_height", height.ToString(System.Globalization.CultureInfo.InvariantCulture));
        graph.Metadata("input_width", width.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>()) graph.Metadata(key, value);
        return graph;
    }
}
