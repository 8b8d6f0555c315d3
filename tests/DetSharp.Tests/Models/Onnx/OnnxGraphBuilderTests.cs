using DetSharp.Models.Onnx;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static DetSharp.Models.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Onnx;

/// <summary>
/// The ONNX writer: a graph of the layers a ResNet + FPN export needs (Conv, BatchNormalization, Relu, MaxPool, Resize
/// nearest, Add) with random weights from TorchSharp modules, symbolic height and width, run in ONNX Runtime with all
/// graph optimizations on, equals libtorch's outputs; and the file reads back through <see cref="OnnxModel"/>.
/// </summary>
public sealed class OnnxGraphBuilderTests
{
    private sealed class Layers : IDisposable
    {
        public readonly TorchSharp.Modules.Conv2d Conv = nn.Conv2d(3, 8, 3, padding: 1);
        public readonly TorchSharp.Modules.BatchNorm2d Bn = nn.BatchNorm2d(8);
        public readonly TorchSharp.Modules.Conv2d Lateral = nn.Conv2d(8, 8, 1);

        public Layers()
        {
            using var _ = no_grad();
            // Non-trivial statistics, so that a wrong BatchNormalization input order shows.
            Bn.running_mean!.copy_(randn(8) * 0.1);
            Bn.running_var!.copy_(rand(8) + 0.5);
            Bn.weight!.copy_(rand(8) + 0.5);
            Bn.bias!.copy_(randn(8) * 0.1);
            Bn.eval();
        }

        public Tensor Forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var r = nn.functional.relu(Bn.forward(Conv.forward(x)));
            var p = nn.functional.max_pool2d(r, 3, stride: 2, padding: 1);
            var up = nn.functional.interpolate(Lateral.forward(p), scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
            return (r + up).MoveToOuterDisposeScope();
        }

        public OnnxGraphBuilder Export()
        {
            var b = new OnnxGraphBuilder("conv_bn_fpn_step");
            string x = b.Input("input", "batch", 3, "height", "width");
            string c = b.Node("Conv", [x, b.Initializer("conv.weight", Conv.weight!), b.Initializer("conv.bias", Conv.bias!)], "conv",
                Attr("kernel_shape", 3, 3), Attr("pads", 1, 1, 1, 1), Attr("strides", 1, 1));
            string bn = b.Node("BatchNormalization",
                [c, b.Initializer("bn.weight", Bn.weight!), b.Initializer("bn.bias", Bn.bias!), b.Initializer("bn.running_mean", Bn.running_mean!),
                    b.Initializer("bn.running_var", Bn.running_var!)], "bn", Attr("epsilon", 1e-5f));
            string r = b.Node("Relu", [bn], "relu");
            string p = b.Node("MaxPool", [r], "maxpool", Attr("kernel_shape", 3, 3), Attr("pads", 1, 1, 1, 1), Attr("strides", 2, 2));
            string l = b.Node("Conv", [p, b.Initializer("lateral.weight", Lateral.weight!), b.Initializer("lateral.bias", Lateral.bias!)], "lateral",
                Attr("kernel_shape", 1, 1));
            // PyTorch's 'nearest' takes floor(out_index / scale): ONNX's asymmetric coordinates with nearest_mode floor.
            string up = b.Node("Resize", [l, "", b.Initializer("scales", [1f, 1f, 2f, 2f], [4])], "upsample",
                Attr("mode", "nearest"), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor"));
            string sum = b.Node("Add", [r, up], "out");
            b.Output(sum, "batch", 8, "height", "width");
            b.Metadata("source", "OnnxGraphBuilderTests");
            return b;
        }

        public void Dispose()
        {
            Conv.Dispose();
            Bn.Dispose();
            Lateral.Dispose();
        }
    }

    [Fact]
    public void Graph_runs_in_onnx_runtime_with_libtorchs_outputs_at_two_sizes()
    {
        manual_seed(24);
        using var layers = new Layers();
        byte[] model = layers.Export().ToBytes();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(model, options);
        foreach (long[] shape in new[] { new long[] { 1, 3, 20, 28 }, [2, 3, 16, 12] })
        {
            using var scope = NewDisposeScope();
            var x = randn(shape);
            float[] expected = layers.Forward(x).data<float>().ToArray();
            float[] input = x.data<float>().ToArray();
            using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
            using var run = new RunOptions();
            using var outputs = session.Run(run, ["input"], [value], ["out"]);
            Assert.Equal([shape[0], 8, shape[2], shape[3]], outputs[0].GetTensorTypeAndShape().Shape);
            float[] actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            Assert.Equal(expected.Length, actual.Length);
            double scale = expected.Max(v => Math.Abs((double)v));
            double maxDiff = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
            Assert.True(maxDiff <= 1e-4 * scale, $"shape [{string.Join(", ", shape)}]: max |onnx - libtorch| = {maxDiff:g3}, scale {scale:g3}");
        }
    }

    [Fact]
    public void Written_model_reads_back_through_the_generated_classes()
    {
        manual_seed(7);
        using var layers = new Layers();
        var read = OnnxModel.Parse(layers.Export().ToBytes());
        Assert.StartsWith("DetSharp", read.Producer, StringComparison.Ordinal);
        Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "Resize", "Add"], read.Nodes.Select(n => n.OpType));
        Assert.Equal([null, 3, null, null], read.Inputs.Single().Shape);
        Assert.Equal("out", read.Outputs.Single().Name);
        Assert.Equal([2L, 2L], read.Nodes[3].Ints("strides", []));
        Assert.Equal(1e-5f, read.Nodes[1].Float("epsilon", 0f));
        Assert.Equal("nearest", read.Nodes[5].Attributes["mode"].String);
        Assert.Equal("", read.Nodes[5].Inputs[1]);
        var w = read.InitializersByName["conv.weight"];
        Assert.Equal([8L, 3, 3, 3], w.Dims);
        Assert.Equal(layers.Conv.weight!.data<float>().ToArray(), w.Data);
        Assert.Throws<DetSharpException>(() => new OnnxGraphBuilder("g").Node("Relu", ["missing"], "relu"));
    }
}
