using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Detectors;
using DetSharp.Structures;
using DetSharp.Tests.Models;
using DetSharp.Tests.Models.Onnx;
using DetSharp.Tests.TestSupport;
using OpenCvSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Apis;

/// <summary>
/// The demo's Mask R-CNN (ResNet-18 base 16 with GroupNorm, 32-channel FPN and heads; random weights) exported by
/// <see cref="OnnxExport"/> and run by <see cref="Detector.FromOnnx"/>, which pastes the graph's 28×28 mask
/// probabilities into the original image: on an image that the test pipeline resizes and pads, the detections equal
/// <see cref="Detector.FromConfig(Config.Config, string?, string, IReadOnlyList{string}?)"/>'s — same set and order, boxes
/// within 1e-2 px, scores within 1e-4, mask IoU ≥ 0.99; exported with a dynamic input size (<see cref="OnnxExport.ExportDynamic"/>),
/// one model does so for a landscape and a portrait image, padded only to the size divisor.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class OnnxMaskRuntimeTests(ITestOutputHelper output)
{
    [Fact]
    public void Exported_mask_rcnn_detects_and_segments_as_libtorch() => WithModel((cfg, checkpoint, dir) =>
    {
        string onnx = Path.Combine(dir, "mask_rcnn.onnx");
        var (height, width) = OnnxExport.Export(cfg, checkpoint, onnx);
        output.WriteLine($"input {height} x {width}");
        // 150 × 230 is resized to 167 × 256 and padded to the input: img_shape, padding and rescale all matter.
        AssertSameDetections(cfg, checkpoint, onnx, 150, 230, maxBoxDiff: 1e-2, maxScoreDiff: 1e-4);
    });

    /// <summary>
    /// <see cref="OnnxExport.ExportDynamic"/>: one model for both orientations, each image padded only to the pipeline's
    /// size divisor as the libtorch path pads it (150 × 230 → 167 × 256 in 192 × 256; 240 × 180 → 256 × 192), within 1e-3
    /// px and 1e-5. (Random weights give many RPN proposals of exactly equal score, whose order neither NMS defines; the
    /// images are ones where no such tie decides a detection — a portrait 230 × 150 has one, and there the fixed-size
    /// export at 256 × 192 differs from libtorch just as the dynamic one does.)
    /// </summary>
    [Fact]
    public void Dynamic_export_detects_and_segments_as_libtorch_at_two_image_sizes() => WithModel((cfg, checkpoint, dir) =>
    {
        string onnx = Path.Combine(dir, "mask_rcnn_dynamic.onnx");
        OnnxExport.ExportDynamic(cfg, checkpoint, onnx);
        AssertSameDetections(cfg, checkpoint, onnx, 150, 230, maxBoxDiff: 1e-3, maxScoreDiff: 1e-5);
        AssertSameDetections(cfg, checkpoint, onnx, 240, 180, maxBoxDiff: 1e-3, maxScoreDiff: 1e-5);
    });

    /// <summary>The demo Mask R-CNN's config and a random checkpoint in a temporary folder.</summary>
    private static void WithModel(Action<Config.Config, string, string> test)
    {
        string dir = Directory.CreateTempSubdirectory("detsharp-onnx-mask-").FullName;
        try
        {
            var cfg = ConfigTools.Load(ModelFixtures.RepoConfig("demo/mask_rcnn_r18_slim_fpn_demo.py"), ["model.backbone.init_cfg=None"]);
            string checkpoint = Path.Combine(dir, "mask_rcnn.pth");
            manual_seed(21);
            using (var model = ModelFixtures.Build(cfg.Get<ConfigDict>("model")))
            {
                // Objectness spread (the init's std 0.01 leaves every RPN score within a hair of 0.5): among thousands of
                // near-equal scores, equal ones would leave NMS's choice between overlapping proposals to the sort.
                using (no_grad()) model.state_dict()["rpn_head.rpn_cls.weight"].mul_(20);
                Checkpoint.Save(checkpoint, model, null, [new("CLASSES", new PyTuple(["ellipse", "triangle", "square"]))]);
            }
            test(cfg, checkpoint, dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A random h × w image through the libtorch detector and the ONNX one: the same detections in the same order, boxes
    /// and scores within the given differences, masks (pasted into the original image) with IoU ≥ 0.99.
    /// </summary>
    private void AssertSameDetections(Config.Config cfg, string checkpoint, string onnx, int h, int w, double maxBoxDiff, double maxScoreDiff)
    {
        using var image = new Mat(h, w, MatType.CV_8UC3);
        // The same image whatever ran before (OpenCV's random generator is process-wide).
        Cv2.SetTheRNG(21);
        Cv2.Randu(image, Scalar.All(0), Scalar.All(255));
        using var libtorch = Detector.FromConfig(cfg, checkpoint);
        using var ort = Detector.FromOnnx(onnx);
        var expected = libtorch.Infer(image).Detections;
        var actual = ort.Infer(image).Detections;

        output.WriteLine($"{h} x {w}: libtorch {expected.Count} detections, onnxruntime {actual.Count}");
        Assert.True(expected.Count > 10, $"only {expected.Count} detections: the test would show little");
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Select(d => d.Label), actual.Select(d => d.Label));
        double boxDiff = expected.Zip(actual, (e, a) => new[] { e.X1 - a.X1, e.Y1 - a.Y1, e.X2 - a.X2, e.Y2 - a.Y2 }.Max(v => Math.Abs((double)v))).Max();
        double scoreDiff = expected.Zip(actual, (e, a) => Math.Abs((double)e.Score - a.Score)).Max();
        var iou = MaskIou.RleIou(actual.Select(d => d.Mask!).ToList(), expected.Select(d => d.Mask!).ToList());
        double minIou = Enumerable.Range(0, actual.Count)
            .Select(i => actual[i].Mask!.Area() == 0 && expected[i].Mask!.Area() == 0 ? 1.0 : iou[i, i]).Min();
        output.WriteLine($"  max box diff {boxDiff:g3} px, max score diff {scoreDiff:g3}, min mask IoU {minIou:f4}, "
                         + $"{expected.Count(d => d.Mask!.Area() > 0)} non-empty masks of {expected[0].Mask!.Height} x {expected[0].Mask!.Width}");
        Assert.Equal((h, w), (expected[0].Mask!.Height, expected[0].Mask!.Width));
        Assert.True(boxDiff <= maxBoxDiff, $"boxes differ by {boxDiff:g3} px");
        Assert.True(scoreDiff <= maxScoreDiff, $"scores differ by {scoreDiff:g3}");
        Assert.True(minIou >= 0.99, $"a mask's IoU is {minIou:f4}");
    }
}
