using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// One image's detections as MMDetection's <c>simple_test</c> returns them (<c>bbox2result</c> order: grouped by
/// class, within a class in NMS order): boxes (x1, y1, x2, y2) in original-image coordinates when rescaled, scores,
/// 0-based labels, and for mask models one RLE mask per detection (thresholded at <c>mask_thr_binary</c>).
/// It is the contract between the models and the inference API, not a result type for applications: those get
/// the inference API's <c>DetectionSet</c> (named classes, highest score first), which is made from it.
/// </summary>
public sealed record DetectionResult(float[] Bboxes, float[] Scores, int[] Labels, Rle[]? Masks, int NumClasses)
{
    public int Count => Scores.Length;

    /// <summary>Mask Scoring R-CNN's mask score per detection (box score × predicted mask IoU), or null.</summary>
    public float[]? MaskScores { get; init; }

    /// <summary>The indices of the detections of class <paramref name="label"/>.</summary>
    public IEnumerable<int> OfClass(int label) => Enumerable.Range(0, Count).Where(i => Labels[i] == label);

    /// <summary>An empty result.</summary>
    public static DetectionResult Empty(int numClasses, bool withMasks) => new([], [], [], withMasks ? [] : null, numClasses);

    /// <summary>
    /// A result from a model's per-image <c>det_bboxes</c> [N, 5] and <c>det_labels</c> [N] tensors (on any device), and
    /// masks in the same order.
    /// </summary>
    public static DetectionResult FromTensors(Tensor dets, Tensor labels, Rle[]? masks, int numClasses, Tensor? maskScores = null)
    {
        // TorchSharp's TensorAccessor.ToArray throws on an empty tensor: an image with no detections (an early
        // checkpoint) must give an empty result, not stop the evaluation.
        var d = dets.numel() == 0 ? [] : dets.to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var l = labels.numel() == 0 ? [] : Array.ConvertAll(labels.to(CPU).to_type(ScalarType.Int64).contiguous().data<long>().ToArray(), v => (int)v);
        var ms = maskScores is null ? null : maskScores.numel() == 0 ? [] : maskScores.to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        return GroupByClass(d, l, masks, numClasses, ms);
    }

    /// <summary>Regroups detections by class (stable), as <c>bbox2result</c> does.</summary>
    public static DetectionResult GroupByClass(float[] dets5, int[] labels, Rle[]? masks, int numClasses, float[]? maskScores = null)
    {
        int n = labels.Length;
        var order = Enumerable.Range(0, n).OrderBy(i => labels[i]).ToArray(); // OrderBy is stable
        var boxes = new float[n * 4];
        var scores = new float[n];
        var outLabels = new int[n];
        var outMasks = masks is null ? null : new Rle[n];
        var outMaskScores = maskScores is null ? null : new float[n];
        for (int k = 0; k < n; k++)
        {
            int i = order[k];
            Array.Copy(dets5, i * 5, boxes, k * 4, 4);
            scores[k] = dets5[i * 5 + 4];
            outLabels[k] = labels[i];
            if (outMasks is not null) outMasks[k] = masks![i];
            if (outMaskScores is not null) outMaskScores[k] = maskScores![i];
        }
        return new DetectionResult(boxes, scores, outLabels, outMasks, numClasses) { MaskScores = outMaskScores };
    }
}
