using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Evaluation;
using DetSharp.Models.Detectors;
using DetSharp.Structures;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>
/// One image's detections in original-image coordinates (MMDetection's <c>inference_detector</c> result for one image):
/// boxes (x1, y1, x2, y2), scores, 0-based labels, grouped by class as <c>bbox2result</c>; masks as RLE (and decoded on demand).
/// </summary>
public sealed class ImageDetections(DetectionResult result, string? filename, (int Height, int Width) oriShape)
{
    public DetectionResult Result { get; } = result;

    public string? Filename { get; } = filename;

    public (int Height, int Width) OriShape { get; } = oriShape;

    public int Count => Result.Count;

    /// <summary>[Count * 4] x1, y1, x2, y2.</summary>
    public float[] Bboxes => Result.Bboxes;

    public float[] Scores => Result.Scores;

    public int[] Labels => Result.Labels;

    /// <summary>Null for models without a mask head.</summary>
    public Rle[]? Masks => Result.Masks;

    /// <summary>Detection <paramref name="index"/>'s mask as a row-major H×W array of 0/1 bytes.</summary>
    public byte[] BitmapMask(int index) =>
        (Masks ?? throw new InvalidOperationException("this model predicts no masks."))[index].Decode();
}

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

    /// <summary>Runs the model on test-pipeline outputs (one batch); results per image in original-image coordinates.</summary>
    public static List<ImageDetections> Run(BaseDetector model, IReadOnlyList<DetSample> pipelineOutputs)
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
            var results = model.SimpleTest(batch.Img, batch.ImgMetas, rescale: true);
            return results.Select((r, i) => new ImageDetections(r, views[i].Filename, (views[i].OriShape.Height, views[i].OriShape.Width))).ToList();
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>MMDetection's <c>inference_detector</c> on image files: the test pipeline, then the model, one image at a time.</summary>
    public static List<ImageDetections> InferenceDetector(BaseDetector model, Compose testPipeline, IReadOnlyList<string> imagePaths)
    {
        var outputs = new List<ImageDetections>();
        foreach (var path in imagePaths)
        {
            using var sample = new DetSample { ImgInfo = new CocoImage(0, 0, 0, path) };
            using var result = testPipeline.Apply(sample, new Random(0)) ?? throw new DetSharpException($"{path}: the test pipeline dropped the image.");
            outputs.AddRange(Run(model, [result]));
        }
        return outputs;
    }

    /// <summary>
    /// Runs a test-mode dataset through the model, batch 1, in index order (MMDetection's <c>single_gpu_test</c>);
    /// <paramref name="progress"/> gets (done, total) after each image.
    /// </summary>
    public static List<ImageDetections> RunDataset(BaseDetector model, IDetDataset dataset, Action<int, int>? progress = null)
    {
        var results = new List<ImageDetections>(dataset.Count);
        var rng = new Random(0);
        using var gate = FinalizerGate.Enter();
        for (int i = 0; i < dataset.Count; i++)
        {
            FinalizerGate.SafePoint();
            using var sample = dataset.GetItem(i, rng);
            results.AddRange(Run(model, [sample]));
            progress?.Invoke(i + 1, dataset.Count);
        }
        return results;
    }
}
