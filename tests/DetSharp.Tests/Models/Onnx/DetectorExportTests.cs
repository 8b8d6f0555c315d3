using System.Globalization;
using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
using DetSharp.Registry;
using DetSharp.Tests.Models.Detectors;
using DetSharp.Tests.TestSupport;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Onnx;

/// <summary>
/// A whole one-stage detector in ONNX (<see cref="OnnxDetectorExport"/>): a slim random RetinaNet and FCOS (GN head,
/// centerness, caffe-style backbone, extra convs on the output), run in ONNX Runtime
/// with every graph optimization on, detects what DetSharp's libtorch path detects (the dense head's simple_test): the
/// same kept set in the same order, labels equal, boxes within 1e-2 px, scores within 1e-4, on an image that fills the
/// input and one whose img_shape is smaller than the padded input (boxes clipped to it); exported with a dynamic input
/// size, one model does so at two input sizes.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class DetectorExportTests(ITestOutputHelper output)
{
    private const long Height = 96, Width = 128;

    [Theory]
    [InlineData("RetinaNet", "bbox_head.retina_cls.bias")]
    [InlineData("FCOS", "bbox_head.conv_cls.bias")]
    public void Detections_in_onnx_runtime_equal_libtorchs(string detector, string clsBias)
    {
        using var model = SpreadScoreModel(detector, clsBias);
        byte[] onnx = OnnxDetectorExport.Export(model, Height, Width).ToBytes();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(onnx, options);
        foreach (var (h, w) in new[] { ((int)Height, (int)Width), (80, 100) })
            AssertDetectionsMatch(output, model, session, Height, Width, h, w, maxBoxDiff: 1e-2, maxScoreDiff: 1e-4);
    }

    /// <summary>
    /// <c>--dynamic</c>: ONE export with symbolic height and width (priors generated in the graph from the feature maps'
    /// shapes) detects what libtorch detects at two input sizes of different aspect, one of them with an img_shape
    /// inside the padding: same kept set and order, boxes within 1e-3 px, scores within 1e-5.
    /// </summary>
    [Theory]
    [InlineData("RetinaNet", "bbox_head.retina_cls.bias")]
    [InlineData("FCOS", "bbox_head.conv_cls.bias")]
    public void Dynamic_export_equals_libtorch_at_two_input_sizes(string detector, string clsBias)
    {
        using var model = SpreadScoreModel(detector, clsBias);
        var graph = OnnxDetectorExport.ExportDynamic(model);
        var input = graph.Build().Graph.Input.Single(i => i.Name == "input").Type.TensorType.Shape.Dim;
        Assert.Equal(["1", "3", "height", "width"], input.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString(CultureInfo.InvariantCulture)));
        Assert.Contains(graph.Build().MetadataProps, p => p.Key == OnnxDetectorExport.DynamicKey && p.Value == "true");
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph.ToBytes(), options);
        AssertDetectionsMatch(output, model, session, 96, 128, 96, 128, maxBoxDiff: 1e-3, maxScoreDiff: 1e-5);
        AssertDetectionsMatch(output, model, session, 160, 96, 150, 90, maxBoxDiff: 1e-3, maxScoreDiff: 1e-5);
    }

    /// <summary>
    /// A head whose priors differ from its generator's grid (<see cref="ShiftedPriorsRetinaHead"/>) exports for a fixed
    /// size (its priors are constants) but not dynamically: one message names it and says to export without --dynamic.
    /// </summary>
    [Fact]
    public void Dynamic_export_refuses_a_head_whose_priors_the_graph_cannot_generate()
    {
        Registries.Models.Register<ShiftedPriorsRetinaHead>(force: true);
        var cfg = SingleStageDetectorTests.SlimRetinaNet(8);
        cfg.Get<ConfigDict>("bbox_head")["type"] = nameof(ShiftedPriorsRetinaHead);
        using var model = (SingleStageDetector)ModelFixtures.Build(cfg);
        Assert.NotNull(OnnxDetectorExport.Export(model, 64, 64));
        var e = Assert.Throws<DetSharpException>(() => OnnxDetectorExport.ExportDynamic(model));
        Assert.Contains("ShiftedPriorsRetinaHead at 'bbox_head'", e.Message, StringComparison.Ordinal);
        Assert.Contains("ShiftedPriorsRetinaHead.GridPriors has no ONNX export", e.Message, StringComparison.Ordinal);
        Assert.Contains("without --dynamic", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A RetinaHead whose anchors are shifted by 4 px: its GridPriors is not its generator's grid.</summary>
    public sealed class ShiftedPriorsRetinaHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, ConfigDict? convCfg = null,
        ConfigDict? normCfg = null) : RetinaHead(args, stackedConvs, convCfg, normCfg)
    {
        protected override Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device) =>
            [.. base.GridPriors(featmapSizes, device).Select(p => p + 4)];
    }

    /// <summary>A slim random RetinaNet or FCOS in eval mode, its scores spread around 0.5 so that score_thr, nms_pre and NMS all have work.</summary>
    private static SingleStageDetector SpreadScoreModel(string detector, string clsBias)
    {
        manual_seed(3);
        var cfg = detector == "FCOS" ? SingleStageDetectorTests.SlimFcos(8) : SingleStageDetectorTests.SlimRetinaNet(8);
        var model = (SingleStageDetector)ModelFixtures.Build(cfg);
        FeatureExportTests.RandomizeBatchNorms(model);
        using (no_grad())
        {
            // Scores spread around 0.5 instead of the focal prior's 0.01.
            model.state_dict()[clsBias].copy_(randn(model.state_dict()[clsBias].shape) * 0.5);
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// A random image of h × w zero-padded to <paramref name="height"/> × <paramref name="width"/> through the session and
    /// through the dense head's simple_test: the same kept set in the same order, labels equal, boxes and scores within
    /// the given differences, boxes clipped to img_shape when the head clips (<paramref name="clipsBoxes"/>).
    /// </summary>
    internal static void AssertDetectionsMatch(ITestOutputHelper output, SingleStageDetector model, InferenceSession session, long height, long width,
        int h, int w, double maxBoxDiff, double maxScoreDiff, bool clipsBoxes = true)
    {
        using var scope = NewDisposeScope();
        var img = zeros(1, 3, height, width);
        img[.., .., ..h, ..w] = randn(1, 3, h, w);
        DetSharp.Models.DenseHeads.DenseDetections expected;
        using (no_grad())
        {
            expected = model.BboxHead.SimpleTest(model.ExtractFeat(img), [new ImgMeta((h, w), (h, w), ((int)height, (int)width), [1f, 1f, 1f, 1f])])[0];
        }
        var (dets, labels) = Run(session, img, h, w);
        float[] e = expected.Dets.data<float>().ToArray();
        long[] eLabels = expected.Labels.data<long>().ToArray();
        output.WriteLine($"input {height}x{width}, img_shape {h}x{w}: libtorch {eLabels.Length} detections, onnxruntime {labels.Length}");
        Assert.True(eLabels.Length > 10, $"only {eLabels.Length} detections: the test would show little");
        Assert.Equal(eLabels, labels);
        double boxDiff = 0, scoreDiff = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs((double)e[i] - dets[i]);
            if (i % 5 == 4) scoreDiff = Math.Max(scoreDiff, d);
            else boxDiff = Math.Max(boxDiff, d);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  max box diff {boxDiff:g3} px, max score diff {scoreDiff:g3}"));
        Assert.True(boxDiff <= maxBoxDiff, $"boxes differ by {boxDiff} px");
        Assert.True(scoreDiff <= maxScoreDiff, $"scores differ by {scoreDiff}");
        if (clipsBoxes)
            Assert.True(dets.Where((_, i) => i % 5 == 2).Max() <= w && dets.Where((_, i) => i % 5 == 3).Max() <= h, "boxes are not clipped to img_shape");
    }

    [Fact]
    public void A_model_with_no_detection_above_score_thr_gives_empty_outputs()
    {
        manual_seed(4);
        // The focal prior puts every score near 0.01, below RetinaNet's score_thr 0.05.
        using var model = (SingleStageDetector)ModelFixtures.Build(SingleStageDetectorTests.SlimRetinaNet(8));
        model.eval();
        using var session = new InferenceSession(OnnxDetectorExport.Export(model, 64, 64).ToBytes());
        var (dets, labels) = Run(session, zeros(1, 3, 64, 64), 64, 64);
        Assert.Empty(dets);
        Assert.Empty(labels);
    }

    internal static (float[] Dets, long[] Labels) Run(InferenceSession session, Tensor img, int h, int w)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(img.contiguous().data<float>().ToArray(), img.shape);
        using var shape = OrtValue.CreateTensorValueFromMemory(new float[] { h, w }, [2]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, ["input", "img_shape"], [input, shape], ["dets", "labels"]);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<long>().ToArray());
    }
}
