using System.Globalization;
using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
using DetSharp.Tests.TestSupport;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Onnx;

/// <summary>
/// YOLOX in ONNX (<see cref="OnnxDetectorExport"/>): the slim random YOLOX of the demo config (CSPDarknet deepen 0.33 /
/// widen 0.25 with its Focus stem, SPP and CSP layers; YOLOXPAFPN; YOLOXHead with objectness, stride priors at offset 0,
/// no clipping, no nms_pre), run in ONNX Runtime with every graph optimization on, detects what DetSharp's libtorch
/// YOLOXHead.simple_test detects: the same kept set in the same order, labels equal, boxes within 2e-3 px and scores
/// within 5e-5 (measured up to 1.5e-3 px and 2.3e-5, as much with ONNX Runtime's graph optimizations off: float32
/// rounding of two convolution libraries through YOLOX's ~60 convs; the decoding and filtering add none), exported for a fixed input
/// size and with <c>--dynamic</c> (one graph at two input sizes of different aspect). The images fill the input:
/// YOLOX does not clip to img_shape, and zero padding gives many positions exactly equal scores, among which NMS's
/// order (and so the boxes at a rank) is arbitrary in either runtime.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class YoloxExportTests(ITestOutputHelper output)
{
    [Fact]
    public void Fixed_size_export_detects_what_libtorch_detects()
    {
        using var model = SpreadScoreYolox();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(OnnxDetectorExport.Export(model, 96, 128).ToBytes(), options);
        // Two random images filling the input (see the class summary for why none is padded).
        for (int i = 0; i < 2; i++)
            DetectorExportTests.AssertDetectionsMatch(output, model, session, 96, 128, 96, 128, maxBoxDiff: 2e-3, maxScoreDiff: 5e-5, clipsBoxes: false);
    }

    /// <summary>
    /// <c>use_depthwise=True</c> in the backbone, neck and head (YOLOX-nano's depthwise-separable convs: a grouped
    /// <c>Conv</c> then a 1×1 one): the same detections.
    /// </summary>
    [Fact]
    public void Depthwise_separable_yolox_exports()
    {
        using var model = SpreadScoreYolox(useDepthwise: true);
        Assert.Contains(model.modules(), m => m is DetSharp.Models.Common.DepthwiseSeparableConvModule);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(OnnxDetectorExport.ExportDynamic(model).ToBytes(), options);
        DetectorExportTests.AssertDetectionsMatch(output, model, session, 96, 128, 96, 128, maxBoxDiff: 2e-3, maxScoreDiff: 5e-5, clipsBoxes: false);
    }

    [Fact]
    public void Dynamic_export_detects_what_libtorch_detects_at_two_input_sizes()
    {
        using var model = SpreadScoreYolox();
        var graph = OnnxDetectorExport.ExportDynamic(model);
        var input = graph.Build().Graph.Input.Single(i => i.Name == "input").Type.TensorType.Shape.Dim;
        Assert.Equal(["1", "3", "height", "width"], input.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString(CultureInfo.InvariantCulture)));
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph.ToBytes(), options);
        DetectorExportTests.AssertDetectionsMatch(output, model, session, 96, 128, 96, 128, maxBoxDiff: 2e-3, maxScoreDiff: 5e-5, clipsBoxes: false);
        DetectorExportTests.AssertDetectionsMatch(output, model, session, 160, 96, 160, 96, maxBoxDiff: 2e-3, maxScoreDiff: 5e-5, clipsBoxes: false);
    }

    /// <summary>
    /// The demo's slim YOLOX in eval mode: random BN affine parameters, then its BatchNorm statistics calibrated on 16
    /// random images (momentum 1 for one training-mode forward; made-up statistics compound through its ~60 convs and
    /// make the box deltas explode), and class and objectness biases spread around 0 (probabilities around 0.5 instead
    /// of the 0.01 prior) so that score_thr and NMS both have work.
    /// </summary>
    private static YOLOX SpreadScoreYolox(bool useDepthwise = false)
    {
        manual_seed(5);
        var cfg = Config.Config.FromFile(ModelFixtures.RepoConfig("demo/yolox_tiny_demo.py")).Get<ConfigDict>("model").Clone();
        if (useDepthwise)
            foreach (var part in new[] { "backbone", "neck", "bbox_head" }) cfg.Get<ConfigDict>(part)["use_depthwise"] = true;
        foreach (var part in new[] { "backbone", "neck", "bbox_head" })
            cfg.Get<ConfigDict>(part)["norm_cfg"] = new ConfigDict { ["type"] = "BN", ["momentum"] = 1.0, ["eps"] = 0.001 };
        // Fewer, better separated detections than at the demo's 0.01: float32 noise of ~1e-5 in the scores would
        // otherwise swap the NMS order of near-equal scores among a few hundred detections.
        cfg.Get<ConfigDict>("test_cfg")["score_thr"] = 0.4;
        var model = Assert.IsType<YOLOX>(ModelFixtures.Build(cfg));
        using (no_grad())
        {
            foreach (var (_, m) in model.named_modules())
            {
                if (m is not TorchSharp.Modules.BatchNorm bn) continue;
                long c = bn.weight!.shape[0];
                bn.weight.copy_(rand(c) + 0.5);
                bn.bias!.copy_(randn(c) * 0.1);
            }
            // After the affine parameters: each layer's statistics are those of the inputs it will see.
            model.train();
            using (var scope = NewDisposeScope()) model.BboxHead.Forward(model.ExtractFeat(randn(16, 3, 96, 128)));
            foreach (var (key, value) in model.state_dict())
            {
                bool scoreBias = key.StartsWith("bbox_head.multi_level_conv_cls.", StringComparison.Ordinal)
                                 || key.StartsWith("bbox_head.multi_level_conv_obj.", StringComparison.Ordinal);
                if (scoreBias && key.EndsWith(".bias", StringComparison.Ordinal)) value.copy_(randn(value.shape) * 0.5);
                // Box deltas of a trained model's size (|delta| well below 1): random ones reach exp(4)·stride, boxes of
                // thousands of pixels whose float32 rounding alone is above the tolerance.
                if (key.StartsWith("bbox_head.multi_level_conv_reg.", StringComparison.Ordinal) && key.EndsWith(".weight", StringComparison.Ordinal))
                    value.mul_(0.1);
            }
        }
        model.eval();
        return model;
    }
}
