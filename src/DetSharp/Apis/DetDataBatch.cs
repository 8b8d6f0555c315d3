using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Apis;

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
        Owner?.Dispose();
    }
}

/// <summary>Turns pipeline outputs (<see cref="DetSample"/> after DefaultFormatBundle or ImageToTensor, and Collect) into model inputs.</summary>
public static class DetCollate
{
    /// <summary>The <see cref="ImgMeta"/> of a pipeline output (img_shape, ori_shape, pad_shape, scale_factor, flip, filename).</summary>
    public static ImgMeta MetaOf(DetSample s)
    {
        var img = s.ImgShape;
        var pad = s.PadShape ?? img;
        return new ImgMeta((img.Height, img.Width), (s.OriShape.Height, s.OriShape.Width), (pad.Height, pad.Width),
            s.ScaleFactor ?? [1f, 1f, 1f, 1f], s.Flip ?? false, s.FlipDirection, s.Filename);
    }

    /// <summary>
    /// Collates samples: images padded bottom/right with zeros to the batch's largest height and width, rounded up to a
    /// multiple of <paramref name="sizeDivisor"/>; ground truth as tensors when <paramref name="withGt"/>.
    /// </summary>
    public static DetDataBatch Collate(IReadOnlyList<DetSample> samples, bool withGt, int sizeDivisor = 1, Device? device = null, IDisposable? owner = null)
    {
        if (samples.Count == 0) throw new DetSharpException("collate: the batch is empty.");
        int c = -1, h = 0, w = 0;
        foreach (var s in samples)
        {
            if (s.ImageChw is null)
                throw new DetSharpException($"collate: sample '{s.OriFilename ?? s.Filename}' has no image tensor; the pipeline must end with DefaultFormatBundle (train) or ImageToTensor (test) and Collect.");
            var (sc, sh, sw) = s.ImageChwShape;
            if (c >= 0 && sc != c) throw new DetSharpException("collate: the images of a batch have different channel counts.");
            c = sc;
            h = Math.Max(h, sh);
            w = Math.Max(w, sw);
        }
        if (sizeDivisor > 1)
        {
            h = (h + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
            w = (w + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
        }
        var data = new float[samples.Count * c * h * w];
        Parallel.For(0, samples.Count, b =>
        {
            var s = samples[b];
            var (_, sh, sw) = s.ImageChwShape;
            for (int k = 0; k < c; k++)
                for (int y = 0; y < sh; y++)
                    s.ImageChw.AsSpan((k * sh + y) * sw, sw).CopyTo(data.AsSpan(((b * c + k) * h + y) * w, sw));
        });
        device ??= CPU;
        Tensor img = tensor(data, [samples.Count, c, h, w]);
        if (device.type != DeviceType.CPU) img = ToDevice(img, device);
        var metas = samples.Select(MetaOf).ToList();
        if (!withGt) return new DetDataBatch { Img = img, ImgMetas = metas, Samples = samples, Owner = owner };

        var boxes = new List<Tensor>();
        var labels = new List<Tensor>();
        var ignore = new List<Tensor?>();
        var masks = new List<IInstanceMasks>();
        bool anyMasks = samples.Any(s => s.GtMasks is not null);
        foreach (var s in samples)
        {
            var b = s.GtBboxes ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_bboxes (the train pipeline needs LoadAnnotations and Collect keys gt_bboxes, gt_labels).");
            var l = s.GtLabels ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_labels.");
            boxes.Add(ToDevice(tensor(b, [b.Length / 4, 4]), device));
            labels.Add(ToDevice(tensor(l, [l.Length]), device));
            ignore.Add(s.GtBboxesIgnore is { Length: > 0 } ig ? ToDevice(tensor(ig, [ig.Length / 4, 4]), device) : null);
            if (anyMasks)
                masks.Add(s.GtMasks ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_masks while others in its batch do."));
        }
        return new DetDataBatch
        {
            Img = img, ImgMetas = metas, GtBboxes = boxes, GtLabels = labels, GtBboxesIgnore = ignore,
            GtMasks = anyMasks ? masks : null, Samples = samples, Owner = owner,
        };
    }

    private static Tensor ToDevice(Tensor t, Device device)
    {
        if (device.type == DeviceType.CPU) return t;
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }
}
