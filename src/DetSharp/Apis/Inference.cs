using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Models.Detectors;
using DetSharp.Utils;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>
/// The test-time inference path shared by <c>detsharp test</c>, <c>detsharp infer</c> and evaluation during training:
/// test pipeline → collate → <c>model.SimpleTest(rescale: true)</c>, inside a dispose scope and <c>no_grad</c>.
/// </summary>
public static class Inference
{
    /// <summary>The test pipeline of a config (<c>data.test.pipeline</c>).</summary>
    public static Compose TestPipeline(Config.Config cfg) =>
        Compose.FromConfig(cfg.Get<List<Config.ConfigDict>>("data.test.pipeline"));

    /// <summary>The single view of a test-pipeline output (MultiScaleFlipAug with one scale and no flip).</summary>
    public static DetSample SingleView(DetSample sample)
    {
        if (sample.AugSamples is null) return sample;
        if (sample.AugSamples.Count != 1)
            throw new DetSharpException($"test-time augmentation ({sample.AugSamples.Count} views from MultiScaleFlipAug) is not supported; "
                                        + "use one img_scale and flip=False in the test pipeline.");
        return sample.AugSamples[0];
    }

    /// <summary>
    /// Runs the model on test-pipeline outputs (one batch); results per image in original-image coordinates, labels named
    /// from <paramref name="classNames"/>.
    /// </summary>
    public static List<DetectionSet> Run(BaseDetector model, IReadOnlyList<DetSample> pipelineOutputs, IReadOnlyList<string> classNames)
    {
        var views = pipelineOutputs.Select(SingleView).ToList();
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        bool wasTraining = model.training;
        if (wasTraining) model.eval();
        using var gate = FinalizerGate.Enter();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var batch = DetCollate.Collate(views, withGt: false, device: device);
            var results = model.SimpleTest(batch, rescale: true);
            return results.Select((r, i) => DetectionSet.FromResult(r, classNames, views[i].Filename, views[i].OriShape.Height, views[i].OriShape.Width)).ToList();
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// Runs a test-mode dataset through the model, batch 1, in index order (MMDetection's <c>single_gpu_test</c>), labels
    /// named from the dataset's classes unless <paramref name="classNames"/> are given; <paramref name="onResult"/> gets
    /// each image's index and result as soon as it is done (to draw it, to advance a progress bar).
    /// </summary>
    public static List<DetectionSet> RunDataset(BaseDetector model, IDetDataset dataset, IReadOnlyList<string>? classNames = null,
        Action<int, DetectionSet>? onResult = null)
    {
        classNames ??= dataset.Classes;
        var results = new List<DetectionSet>(dataset.Count);
        var rng = new Random(0);
        using var gate = FinalizerGate.Enter();
        for (int i = 0; i < dataset.Count; i++)
        {
            FinalizerGate.SafePoint();
            using var sample = dataset.GetItem(i, rng);
            var result = Run(model, [sample], classNames)[0];
            results.Add(result);
            onResult?.Invoke(i, result);
        }
        return results;
    }
}
