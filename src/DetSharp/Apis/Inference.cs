using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Models.Detectors;
using DetSharp.Utils;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>
/// The test-time inference path shared by <c>detsharp test</c>, <c>detsharp infer</c> and evaluation during training:
/// test pipeline → collate → <c>model.SimpleTest(rescale: true)</c>, inside a dispose scope and <c>no_grad</c>.
/// <para>Thread safety: stateless, but a model runs one forward at a time: callers sharing a model serialise their calls
/// (as <see cref="Detector"/> does).</para>
/// </summary>
public static class Inference
{
    /// <summary>The test pipeline of a config (<c>data.test.pipeline</c>).</summary>
    public static Compose TestPipeline(Config.Config cfg) =>
        Compose.FromConfig(cfg.Get<List<Config.ConfigDict>>("data.test.pipeline"));

    /// <summary>The views of a test-pipeline output: MultiScaleFlipAug's, one per (scale, flip), or the sample itself.</summary>
    public static IReadOnlyList<DetSample> Views(DetSample sample) => sample.AugSamples ?? [sample];

    /// <summary>The single view of a test-pipeline output (MultiScaleFlipAug with one scale and no flip).</summary>
    public static DetSample SingleView(DetSample sample)
    {
        var views = Views(sample);
        if (views.Count != 1)
            throw new DetSharpException($"this path takes a single view, got {views.Count} from MultiScaleFlipAug; test-time augmentation runs through Inference.Run (model.AugTest).");
        return views[0];
    }

    /// <summary>
    /// Runs the model on test-pipeline outputs (one batch); results per image in original-image coordinates, labels named
    /// from <paramref name="classNames"/>.
    /// </summary>
    public static List<DetectionSet> Run(BaseDetector model, IReadOnlyList<DetSample> pipelineOutputs, IReadOnlyList<string> classNames)
    {
        var augViews = pipelineOutputs.Select(Views).ToList();
        if (augViews.Any(v => v.Count > 1))
        {
            // MMDetection's forward_test: several views run aug_test, which takes one image at a time.
            if (pipelineOutputs.Count != 1)
                throw new DetSharpException($"test-time augmentation (MultiScaleFlipAug with several views) runs one image at a time, got a batch of {pipelineOutputs.Count}; use samples_per_gpu=1 for testing.");
            return [RunAugmented(model, augViews[0], classNames)];
        }
        var views = augViews.ConvertAll(v => v[0]);
        return InEvalMode(model, device =>
        {
            using var batch = DetCollate.Collate(views, withGt: false, device: device);
            var results = model.SimpleTest(batch, rescale: true);
            return results.Select((r, i) => DetectionSet.FromResult(r, classNames, views[i].Filename, views[i].OriShape.Height, views[i].OriShape.Width)).ToList();
        });
    }

    /// <summary>One image's views (one per MultiScaleFlipAug scale and flip) through <c>model.AugTest(rescale: true)</c>.</summary>
    private static DetectionSet RunAugmented(BaseDetector model, IReadOnlyList<DetSample> views, IReadOnlyList<string> classNames) =>
        InEvalMode(model, device =>
        {
            var batches = views.Select(v => DetCollate.Collate([v], withGt: false, device: device)).ToList();
            try
            {
                var result = model.AugTest(batches.ConvertAll(b => b.Img), batches.ConvertAll(b => b.ImgMetas[0]), rescale: true);
                return DetectionSet.FromResult(result, classNames, views[0].Filename, views[0].OriShape.Height, views[0].OriShape.Width);
            }
            finally
            {
                foreach (var b in batches) b.Dispose();
            }
        });

    /// <summary>
    /// Runs <paramref name="body"/> (given the model's device) with the model in eval mode, under no_grad, a dispose scope,
    /// the finalizer gate and the model's autocast (mixed precision, if set); a model that was training is put back in training mode afterwards.
    /// </summary>
    private static T InEvalMode<T>(BaseDetector model, Func<Device, T> body)
    {
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        bool wasTraining = model.training;
        if (wasTraining) model.eval();
        using var gate = FinalizerGate.Enter();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var autocast = model.EnterAutocast(device);
            return body(device);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// Runs a test-mode dataset through the backend (the libtorch model, or ONNX Runtime), batch 1, in index order
    /// (MMDetection's <c>single_gpu_test</c>), labels named from the dataset's classes unless <paramref name="classNames"/>
    /// are given; <paramref name="onResult"/> gets
    /// each image's index and result as soon as it is done (to draw it, to advance a progress bar). <paramref name="indices"/>
    /// runs only those images, in that order (a rank's share in <see cref="MultiGpuTest"/>).
    /// </summary>
    /// <remarks><paramref name="cancellationToken"/> is checked before each image (<see cref="OperationCanceledException"/>).</remarks>
    public static List<DetectionSet> RunDataset(IInferenceBackend backend, IDetDataset dataset, IReadOnlyList<string>? classNames = null,
        Action<int, DetectionSet>? onResult = null, IReadOnlyList<int>? indices = null, CancellationToken cancellationToken = default)
    {
        classNames ??= dataset.Classes;
        indices ??= Enumerable.Range(0, dataset.Count).ToArray();
        var results = new List<DetectionSet>(indices.Count);
        var rng = new Random(0);
        using var gate = FinalizerGate.Enter();
        foreach (int i in indices)
        {
            cancellationToken.ThrowIfCancellationRequested();
            FinalizerGate.SafePoint();
            using var sample = dataset.GetItem(i, rng);
            var result = backend.Run([sample], classNames)[0];
            results.Add(result);
            onResult?.Invoke(i, result);
        }
        return results;
    }
}
