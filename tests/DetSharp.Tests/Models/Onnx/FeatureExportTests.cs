using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
using DetSharp.Tests.Models.Detectors;
using DetSharp.Tests.TestSupport;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Onnx;

/// <summary>
/// The module-tree exporter on backbone + neck: a slim random ResNet (BasicBlock / pytorch style, Bottleneck / caffe
/// style, BatchNorm with non-trivial running statistics) and FPN (extra convs on the input, or max-pooled extra levels),
/// written through <see cref="IOnnxExportable"/>, run in ONNX Runtime with every graph optimization on, give libtorch's
/// features within 1e-4 (relative to each level's largest value) on a padded and an odd-sized image.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class FeatureExportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(18, "pytorch", "on_input")]
    [InlineData(50, "caffe", "False")]
    public void Backbone_and_neck_features_equal_libtorchs(int depth, string style, string extraConvs)
    {
        manual_seed(24);
        var cfg = SingleStageDetectorTests.SlimRetinaNet(8, $"model.backbone.depth={depth}", $"model.backbone.style={style}",
            $"model.neck.add_extra_convs={extraConvs}", $"model.neck.in_channels=[{string.Join(",", new[] { 16, 32, 64, 128 }.Select(c => depth >= 50 ? c * 4 : c))}]");
        using var model = (BaseDetector)ModelFixtures.Build(cfg);
        RandomizeBatchNorms(model);
        model.eval();

        var graph = new OnnxGraphBuilder("features");
        var ctx = new OnnxExportContext(graph, model);
        string input = graph.Input("input", 1, 3, "height", "width");
        var feats = model.ExportFeatOnnx(ctx, input);
        for (int i = 0; i < feats.Count; i++) graph.Output(feats[i], 1, 32, $"h{i}", $"w{i}");
        Assert.Contains(graph.Build().Graph.Initializer, t => t.Name == "backbone.layer1.0.conv1.weight");
        Assert.Contains(graph.Build().Graph.Initializer, t => t.Name == "neck.fpn_convs.0.conv.bias");

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph.ToBytes(), options);
        foreach (long[] shape in new[] { new long[] { 1, 3, 64, 96 }, [1, 3, 50, 70] })
        {
            using var scope = NewDisposeScope();
            var x = randn(shape);
            Tensor[] expected;
            using (no_grad()) expected = model.ExtractFeat(x);
            using var value = OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), shape);
            using var run = new RunOptions();
            using var outputs = session.Run(run, [input], [value], feats.ToArray());
            Assert.Equal(expected.Length, outputs.Count);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i].shape, outputs[i].GetTensorTypeAndShape().Shape);
                float[] e = expected[i].data<float>().ToArray(), a = outputs[i].GetTensorDataAsSpan<float>().ToArray();
                double scale = e.Max(v => Math.Abs((double)v)), maxDiff = e.Zip(a, (p, q) => Math.Abs((double)p - q)).Max();
                output.WriteLine($"[{string.Join(",", shape)}] level {i} {string.Join("x", expected[i].shape)}: max |onnx - libtorch| {maxDiff:g3}, scale {scale:g3}");
                Assert.True(maxDiff <= 1e-4 * scale, $"level {i}: max |onnx - libtorch| = {maxDiff:g3}, scale {scale:g3}");
            }
        }
    }

    [Fact]
    public void An_unsupported_module_is_named_with_its_config_path()
    {
        var cfg = SingleStageDetectorTests.SlimRetinaNet(8, "model.backbone.dcn.type=DCNv2", "model.backbone.dcn.deform_groups=1",
            "model.backbone.stage_with_dcn=[False,True,True,True]", "model.backbone.depth=50", "model.neck.in_channels=[64,128,256,512]");
        using var model = (BaseDetector)ModelFixtures.Build(cfg);
        model.eval();
        var graph = new OnnxGraphBuilder("features");
        var ctx = new OnnxExportContext(graph, model);
        var e = Assert.Throws<DetSharpException>(() => model.ExportFeatOnnx(ctx, graph.Input("input", 1, 3, 64, 64)));
        Assert.Contains("at 'backbone.layer2.0.conv2'", e.Message, StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    /// <summary>Running statistics and affine parameters away from 0 / 1, so that a wrong BatchNormalization shows.</summary>
    internal static void RandomizeBatchNorms(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not TorchSharp.Modules.BatchNorm bn) continue;
            long c = bn.running_mean!.shape[0];
            bn.running_mean.copy_(randn(c) * 0.1);
            bn.running_var!.copy_(rand(c) + 0.5);
            bn.weight!.copy_(rand(c) + 0.5);
            bn.bias!.copy_(randn(c) * 0.1);
        }
    }
}
