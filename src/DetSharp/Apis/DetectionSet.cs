using DetSharp.Models.Detectors;
using DetSharp.Structures;

namespace DetSharp.Apis;

/// <summary>Images done of <see cref="Total"/> (null when the number of inputs is not known in advance, as for a stream).</summary>
public readonly record struct InferenceProgress(int Done, int? Total);

/// <summary>One detected object: box (x1, y1, x2, y2) in original-image pixels, score, 0-based label and class name, optional mask.</summary>
/// <remarks>Thread safety: immutable.</remarks>
public sealed record Detection(float X1, float Y1, float X2, float Y2, float Score, int Label, string ClassName, Rle? Mask)
{
    /// <summary>The mask as a row-major H×W plane of 0/1 bytes (null for models without a mask head).</summary>
    public byte[]? BitmapMask() => Mask?.Decode();

    /// <summary>
    /// Mask Scoring R-CNN's mask score (box score × predicted mask IoU), or null for other models: MMDetection scores the
    /// segm results with it instead of the box score.
    /// </summary>
    public float? MaskScore { get; init; }
}

/// <summary>
/// The detections of one image, highest score first: DetSharp's per-image result for applications. <see cref="Detector.Infer(string)"/>
/// and <see cref="Inference"/> return it, <c>detsharp test</c> evaluates, draws and writes it. It is made from the model's
/// <see cref="DetectionResult"/> (<c>SimpleTest</c>'s arrays in <c>bbox2result</c> order), which is the plumbing between
/// the models and this API.
/// <para>Thread safety: immutable.</para>
/// </summary>
public sealed record DetectionSet(string? Source, int Height, int Width, IReadOnlyList<Detection> Detections)
{
    /// <summary>Whether the model predicts masks (true with zero detections too, unlike looking at a detection).</summary>
    public bool HasMasks { get; init; }

    /// <summary>The detections with a score of at least <paramref name="threshold"/>.</summary>
    public IEnumerable<Detection> Above(float threshold) => Detections.Where(d => d.Score >= threshold);

    /// <summary>
    /// MMDetection's <c>bbox2result</c> order: by label, within a label highest score first (the NMS order), the order of
    /// its results files.
    /// </summary>
    public IEnumerable<Detection> InClassOrder() => Detections.OrderBy(d => d.Label);

    /// <summary>
    /// The detections of a model result for an image of <paramref name="height"/>×<paramref name="width"/> (the original
    /// image, as <c>rescale=True</c> gives them), named from <paramref name="classNames"/>.
    /// </summary>
    public static DetectionSet FromResult(DetectionResult result, IReadOnlyList<string> classNames, string? source, int height, int width)
    {
        var detections = new List<Detection>(result.Count);
        // OrderByDescending is stable: equal scores keep bbox2result order, so InClassOrder gives that order back.
        foreach (int i in Enumerable.Range(0, result.Count).OrderByDescending(i => result.Scores[i]))
        {
            int label = result.Labels[i];
            string name = label >= 0 && label < classNames.Count ? classNames[label] : $"class {label}";
            detections.Add(new Detection(result.Bboxes[i * 4], result.Bboxes[i * 4 + 1], result.Bboxes[i * 4 + 2], result.Bboxes[i * 4 + 3],
                result.Scores[i], label, name, result.Masks?[i])
            { MaskScore = result.MaskScores?[i] });
        }
        return new DetectionSet(source, height, width, detections) { HasMasks = result.Masks is not null };
    }
}
