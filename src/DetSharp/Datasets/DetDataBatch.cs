using DetSharp.Engine;
using DetSharp.Models;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Datasets;

/// <summary>
/// One collated mini-batch as the detector takes it (mmcv's <c>collate</c> + <c>scatter</c>): the images stacked into
/// <c>img</c> [B, C, H, W] padded with zeros at the bottom/right to the batch maximum, the per-image <see cref="ImgMeta"/>, and
/// (training) per-image ground truth: boxes [n_i, 4] float32, labels [n_i] int64, ignored boxes, instance masks.
/// Disposing it frees the tensors (the samples belong to whoever collated them).
/// </summary>
public sealed class DetDataBatch : IDataBatch
{
    public required Tensor Img { get; init; }

    public required IReadOnlyList<ImgMeta> ImgMetas { get; init; }

    /// <summary>Null for test batches (no annotations).</summary>
    public IReadOnlyList<Tensor>? GtBboxes { get; init; }

    public IReadOnlyList<Tensor>? GtLabels { get; init; }

    /// <summary>Per image, null where the pipeline did not collect <c>gt_bboxes_ignore</c>.</summary>
    public IReadOnlyList<Tensor?>? GtBboxesIgnore { get; init; }

    public IReadOnlyList<IInstanceMasks>? GtMasks { get; init; }

    /// <summary>Per image [N, 4] float32, where the pipeline collected <c>proposals</c> (LoadProposals, Fast R-CNN); else null.</summary>
    public IReadOnlyList<Tensor>? Proposals { get; init; }

    /// <summary>[N, 1, H, W] uint8 class ids (255 = ignore), where the pipeline collected <c>gt_semantic_seg</c> (HTC); else null.</summary>
    public Tensor? GtSemanticSeg { get; init; }

    /// <summary>The pipeline outputs the batch came from.</summary>
    public IReadOnlyList<DetSample> Samples { get; init; } = [];

    /// <summary>Disposed with the batch (the loader's batch, whose samples hold OpenCV images).</summary>
    public IDisposable? Owner { get; init; }

    public int NumSamples => ImgMetas.Count;

    public void Dispose()
    {
        Img.Dispose();
        foreach (var t in GtBboxes ?? []) t.Dispose();
        foreach (var t in GtLabels ?? []) t.Dispose();
        foreach (var t in GtBboxesIgnore ?? []) t?.Dispose();
        foreach (var t in Proposals ?? []) t.Dispose();
        GtSemanticSeg?.Dispose();
        Owner?.Dispose();
    }
}
