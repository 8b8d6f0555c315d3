using System.Globalization;
using System.Text.Json;
using DetSharp.Config;
using DetSharp.Datasets.Transforms;
using DetSharp.Models.Onnx;

namespace DetSharp.Apis;

/// <summary>
/// <c>detsharp export onnx</c>: a trained detector (config + checkpoint, loaded as <see cref="Detector.FromConfig(Config.Config, string?, string, IReadOnlyList{string}?)"/>
/// does) written as one ONNX model for a fixed input size or, with <see cref="ExportDynamic"/>, for any input size
/// (<see cref="OnnxDetectorExport"/>), with what a runtime needs
/// in its metadata: the merged config (<see cref="ConfigKey"/>, from which <see cref="Detector.FromOnnx"/> rebuilds the
/// test pipeline), the class names, and for other runtimes the preprocessing in plain keys (mean, std, to_rgb,
/// pad_size_divisor, test_scale) and the config's name.
/// </summary>
public static class OnnxExport
{
    /// <summary>The metadata key of the merged config (Python syntax).</summary>
    public const string ConfigKey = "detsharp.config";

    /// <summary>The metadata key of the class names (a JSON array).</summary>
    public const string ClassesKey = "classes";

    /// <summary>
    /// Writes <paramref name="outputPath"/>. <paramref name="shape"/> (height, width) defaults to the test scale padded
    /// to the pad divisor, landscape (MMDetection's (1333, 800) gives 800 × 1344); an image whose resized, padded size
    /// exceeds it is refused at inference.
    /// </summary>
    /// <remarks>
    /// <paramref name="skipPostprocess"/>: MMDetection's <c>pytorch2onnx.py --skip-postprocess</c> for a one-stage detector —
    /// the graph ends at the dense head's raw maps (<see cref="OnnxDetectorExport.PostprocessSkipped"/>) and the runtime
    /// decodes them with the config's <c>test_cfg</c> (<see cref="Detector.FromOnnx"/> does it in libtorch), for a deployment
    /// that brings its own box decoding and NMS.
    /// </remarks>
    public static (long Height, long Width) Export(Config.Config cfg, string? checkpointPath, string outputPath, (long Height, long Width)? shape = null,
        int opset = OnnxGraphBuilder.DefaultOpset, bool skipPostprocess = false)
    {
        (long Height, long Width) size = (0, 0);
        Write(cfg, checkpointPath, outputPath, skipPostprocess, (model, scales, divisor, metadata) =>
        {
            size = shape ?? DefaultShape(scales, divisor, cfg.Filename);
            return OnnxDetectorExport.Export(model, size.Height, size.Width, opset, metadata, skipPostprocess);
        });
        return size;
    }

    /// <summary>
    /// Writes <paramref name="outputPath"/> with a dynamic input size (<see cref="OnnxDetectorExport.ExportDynamic"/>):
    /// any height and width; a runtime pads each image only to the pad divisor, as the libtorch path does.
    /// </summary>
    public static void ExportDynamic(Config.Config cfg, string? checkpointPath, string outputPath, int opset = OnnxGraphBuilder.DefaultOpset,
        bool skipPostprocess = false) =>
        Write(cfg, checkpointPath, outputPath, skipPostprocess, (model, _, _, metadata) => OnnxDetectorExport.ExportDynamic(model, opset, metadata, skipPostprocess));

    private static void Write(Config.Config cfg, string? checkpointPath, string outputPath, bool skipPostprocess,
        Func<Models.Detectors.BaseDetector, List<(int A, int B)>, int, Dictionary<string, string>, OnnxGraphBuilder> export)
    {
        var pipeline = cfg.Get<List<ConfigDict>>("data.test.pipeline");
        var normalize = Find(pipeline, "Normalize");
        var pad = Find(pipeline, "Pad");
        int divisor = pad is not null && pad.TryGetValue("size_divisor", out var d) && d is not null ? (int)TransformArgs.Number(d, "Pad.size_divisor") : 1;
        var scales = TestScales(pipeline);
        using var detector = Detector.FromConfig(cfg, checkpointPath);
        foreach (var warning in detector.Warnings) Console.Error.WriteLine($"warning: {warning}");
        var metadata = new Dictionary<string, string>
        {
            [ConfigKey] = cfg.DumpPython(),
            ["config_name"] = Path.GetFileName(cfg.Filename),
            [ClassesKey] = JsonSerializer.Serialize(detector.ClassNames),
            ["pad_size_divisor"] = divisor.ToString(CultureInfo.InvariantCulture),
            ["test_scale"] = JsonSerializer.Serialize(scales.Select(s => new[] { s.A, s.B })),
            ["inputs"] = "input: float [1, 3, H, W], the normalized image (Normalize: (x - mean) / std, BGR->RGB if to_rgb), resized as the test pipeline does and zero-padded to H x W (input_height x input_width; with dynamic=true any H x W, padded to a multiple of pad_size_divisor)"
                         + (skipPostprocess ? "" : "; img_shape: float [2], the resized image's (height, width)"),
            ["outputs"] = skipPostprocess
                ? "postprocess=skipped: per feature level L the dense head's raw maps, cls_score_L [1, A*C, H_L, W_L] (logits), bbox_pred_L [1, A*4, H_L, W_L] and, for heads with score factors (FCOS centerness, YOLOX objectness), score_factor_L [1, A, H_L, W_L] (logits); decode them with the priors, bbox_coder and test_cfg of the config (detsharp.config), as MMDetection's get_bboxes does"
                : "dets: [N, 5] (x1, y1, x2, y2, score) in the resized image's pixels (divide by the resize scale for the original image); labels: int64 [N]; masks (mask models): [N, h, w] each detection's mask probabilities of its class inside its box, to paste into the image as get_seg_masks does",
        };
        if (normalize is not null)
        {
            metadata["mean"] = JsonSerializer.Serialize(Numbers(normalize, "mean"));
            metadata["std"] = JsonSerializer.Serialize(Numbers(normalize, "std"));
            metadata["to_rgb"] = (normalize.TryGetValue("to_rgb", out var rgb) ? rgb is true : true) ? "true" : "false";
        }
        var graph = export(detector.Model, scales, divisor, metadata);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is not null) Directory.CreateDirectory(folder);
        // Written beside, then renamed: an interrupted export leaves no half-written model.
        string temp = outputPath + ".tmp";
        graph.Save(temp);
        File.Move(temp, outputPath, overwrite: true);
    }

    private static (long, long) DefaultShape(List<(int A, int B)> scales, int divisor, string config)
    {
        if (scales.Count == 0)
            throw new DetSharpException($"{config}: the test pipeline has no img_scale to take the ONNX input size from; give --shape H W.");
        long RoundUp(long v) => (v + divisor - 1) / divisor * divisor;
        long longEdge = scales.Max(s => Math.Max(s.A, s.B)), shortEdge = scales.Max(s => Math.Min(s.A, s.B));
        return (RoundUp(shortEdge), RoundUp(longEdge));
    }

    private static List<(int A, int B)> TestScales(List<ConfigDict> pipeline)
    {
        var aug = Find(pipeline, "MultiScaleFlipAug");
        object? scale = aug is not null && aug.TryGetValue("img_scale", out var s) ? s : Find(pipeline, "Resize") is { } r && r.TryGetValue("img_scale", out var rs) ? rs : null;
        return TransformArgs.Scales(scale, "test pipeline img_scale");
    }

    private static double[] Numbers(ConfigDict dict, string key) =>
        dict.TryGetValue(key, out var v) && v is List<object?> list ? list.Select(x => TransformArgs.Number(x, $"Normalize.{key}")).ToArray() : [];

    /// <summary>The first transform of <paramref name="type"/> in the pipeline, looking inside MultiScaleFlipAug's transforms.</summary>
    private static ConfigDict? Find(IEnumerable<ConfigDict> pipeline, string type)
    {
        foreach (var step in pipeline)
        {
            if (step.Get("type", "") == type) return step;
            if (step.TryGetValue("transforms", out var inner) && inner is List<object?> list && Find(list.OfType<ConfigDict>(), type) is { } found) return found;
        }
        return null;
    }
}
