using DetSharp.Models.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace DetSharp.Tests.Models.Onnx;

/// <summary>
/// Runs a graph written by <see cref="OnnxGraphBuilder"/> in ONNX Runtime (CPU, all graph optimizations on, as a
/// deployment would) on TorchSharp tensors, and gives the outputs back as tensors (float32 or int64).
/// </summary>
internal static class OrtRun
{
    public static Dictionary<string, Tensor> Run(OnnxGraphBuilder graph, IReadOnlyDictionary<string, Tensor> inputs, params string[] outputs)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph.ToBytes(), options);
        var names = inputs.Keys.ToArray();
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in names)
            {
                var t = inputs[name].detach().cpu().to_type(ScalarType.Float32).contiguous();
                values.Add(OrtValue.CreateTensorValueFromMemory(t.data<float>().ToArray(), t.shape));
            }
            using var run = new RunOptions();
            using var results = session.Run(run, names, values, outputs);
            var result = new Dictionary<string, Tensor>();
            for (int i = 0; i < outputs.Length; i++)
            {
                var info = results[i].GetTensorTypeAndShape();
                long[] shape = info.Shape;
                result[outputs[i]] = info.ElementDataType == TensorElementType.Int64
                    ? tensor(results[i].GetTensorDataAsSpan<long>().ToArray(), shape)
                    : tensor(results[i].GetTensorDataAsSpan<float>().ToArray(), shape);
            }
            return result;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>The largest absolute difference of two tensors of one shape.</summary>
    public static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        return expected.numel() == 0 ? 0 : (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs().max().item<double>();
    }
}
