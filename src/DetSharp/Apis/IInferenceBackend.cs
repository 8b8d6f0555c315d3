using DetSharp.Datasets;
using DetSharp.Models.Detectors;

namespace DetSharp.Apis;

/// <summary>
/// What runs one batch of test-pipeline outputs to per-image detections in original-image coordinates: the libtorch
/// model (<see cref="LibtorchBackend"/>) or a model exported by <c>detsharp export onnx</c> in ONNX Runtime
/// (<see cref="Detector.FromOnnx"/>), as MMDeploy's backend wrappers stand in for the model in <c>single_gpu_test</c>.
/// The test loop (<see cref="Inference.RunDataset"/>, <see cref="MultiGpuTest"/>) and <see cref="Detector"/> take this, so
/// <c>detsharp test</c> runs either backend with the same dataset, pipeline, results and evaluation.
/// <para>Thread safety: one batch at a time (a libtorch model runs one forward at a time).</para>
/// </summary>
public interface IInferenceBackend
{
    /// <summary><c>libtorch</c> or <c>onnxruntime</c>.</summary>
    string Name { get; }

    /// <summary>The detections of each test-pipeline output, labels named from <paramref name="classNames"/>.</summary>
    List<DetectionSet> Run(IReadOnlyList<DetSample> pipelineOutputs, IReadOnlyList<string> classNames);
}

/// <summary>A libtorch model as an <see cref="IInferenceBackend"/>: <see cref="Inference.Run"/> (SimpleTest, or AugTest for TTA).</summary>
public sealed class LibtorchBackend(BaseDetector model) : IInferenceBackend
{
    public BaseDetector Model { get; } = model;

    public string Name => "libtorch";

    public List<DetectionSet> Run(IReadOnlyList<DetSample> pipelineOutputs, IReadOnlyList<string> classNames) =>
        Inference.Run(Model, pipelineOutputs, classNames);
}
