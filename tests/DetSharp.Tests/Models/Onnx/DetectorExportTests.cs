using System.Globalization;
using DetSharp.Models;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
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
/// input and one whose img_shape is smaller than the padded input (boxes clipped to it).
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
        manual_seed(3);
        var cfg = detector == "FCOS" ? SingleStageDetectorTests.SlimFcos(8) : SingleStageDetectorTests.SlimRetinaNet(8);
        using var model = (SingleStageDetector)ModelFixtures.Build(cfg);
        FeatureExportTests.RandomizeBatchNorms(model);
        using (no_grad())
        {
            // Scores spread around 0.5 instead of the focal prior's 0.01, so that score_thr, nms_pre and NMS all have work.
            model.state_dict()[clsBias].copy_(randn(model.state_dict()[clsBias].shape) * 0.5);
        }
        model.eval();
        byte[] onnx = OnnxDetectorExport.Export(model, Height, Width).ToBytes();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(onnx, options);

        foreach (var (h, w) in new[] { ((int)Height, (int)Width), (80, 100) })
        {
            using var scope = NewDisposeScope();
            var img = zeros(1, 3, Height, Width);
            img[.., .., ..h, ..w] = randn(1, 3, h, w);
            DetSharp.Models.DenseHeads.DenseDetections expected;
            using (no_grad())
            {
                expected = model.BboxHead.SimpleTest(model.ExtractFeat(img), [new ImgMeta((h, w), (h, w), ((int)Height, (int)Width), [1f, 1f, 1f, 1f])])[0];
            }
            var (dets, labels) = Run(session, img, h, w);
            float[] e = expected.Dets.data<float>().ToArray();
            long[] eLabels = expected.Labels.data<long>().ToArray();
            output.WriteLine($"img_shape {h}x{w}: libtorch {eLabels.Length} detections, onnxruntime {labels.Length}");
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
            Assert.True(boxDiff <= 1e-2, $"boxes differ by {boxDiff} px");
            Assert.True(scoreDiff <= 1e-4, $"scores differ by {scoreDiff}");
            Assert.True(dets.Where((_, i) => i % 5 == 2).Max() <= w && dets.Where((_, i) => i % 5 == 3).Max() <= h, "boxes are not clipped to img_shape");
        }
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

    private static (float[] Dets, long[] Labels) Run(InferenceSession session, Tensor img, int h, int w)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(img.contiguous().data<float>().ToArray(), img.shape);
        using var shape = OrtValue.CreateTensorValueFromMemory(new float[] { h, w }, [2]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, ["input", "img_shape"], [input, shape], ["dets", "labels"]);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<long>().ToArray());
    }
}
