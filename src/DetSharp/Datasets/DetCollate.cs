using DetSharp.Models;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Datasets;

/// <summary>
/// mmcv's <c>collate</c> + <c>scatter</c> for detection: pipeline outputs (<see cref="DetSample"/> after DefaultFormatBundle
/// or ImageToTensor, and Collect) become model inputs. The pixels are padded once, by <see cref="DetBatch.Collate"/> (in the
/// data loader's worker during training); the image tensor here shares that padded buffer instead of copying it.
/// </summary>
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
    /// multiple of <paramref name="sizeDivisor"/>; ground truth as tensors when <paramref name="withGt"/>. The samples stay
    /// the caller's.
    /// </summary>
    public static DetDataBatch Collate(IReadOnlyList<DetSample> samples, bool withGt, int sizeDivisor = 1, Device? device = null) =>
        FromBatch(DetBatch.Collate(samples, Enumerable.Range(0, samples.Count).ToList(), sizeDivisor), withGt, device, owner: null);

    /// <summary>
    /// The model input of a batch the loader already collated: <see cref="DetBatch.Images"/> becomes <c>img</c> without a
    /// copy (on the CPU); ground truth as tensors when <paramref name="withGt"/>. <paramref name="owner"/> is disposed with
    /// the result (the loader's batch, whose samples hold OpenCV images).
    /// </summary>
    public static DetDataBatch FromBatch(DetBatch batch, bool withGt, Device? device = null, IDisposable? owner = null)
    {
        var samples = batch.Samples;
        if (samples.Count == 0) throw new DetSharpException("collate: the batch is empty.");
        if (batch.Images is null)
        {
            var s = samples.First(x => x.ImageChw is null);
            throw new DetSharpException($"collate: sample '{s.OriFilename ?? s.Filename}' has no image tensor; the pipeline must end with DefaultFormatBundle (train) or ImageToTensor (test) and Collect.");
        }
        device ??= CPU;
        var (b, c, h, w) = batch.Shape;
        Tensor img;
        // from_array shares the array (pinned until the tensor's storage is freed); the view gives it its 4-D shape.
        using (var flat = from_array(batch.Images))
            img = flat.view(b, c, h, w);
        if (device.type != DeviceType.CPU) img = ToDevice(img, device);
        var metas = samples.Select(MetaOf).ToList();
        var proposals = CollateProposals(samples, device);
        if (!withGt) return new DetDataBatch { Img = img, ImgMetas = metas, Proposals = proposals, Samples = samples, Owner = owner };

        var boxes = new List<Tensor>();
        var labels = new List<Tensor>();
        var ignore = new List<Tensor?>();
        var masks = new List<IInstanceMasks>();
        bool anyMasks = samples.Any(s => s.GtMasks is not null);
        foreach (var s in samples)
        {
            var bx = s.GtBboxes ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_bboxes (the train pipeline needs LoadAnnotations and Collect keys gt_bboxes, gt_labels).");
            var l = s.GtLabels ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_labels.");
            boxes.Add(ToDevice(tensor(bx, [bx.Length / 4, 4]), device));
            labels.Add(ToDevice(tensor(l, [l.Length]), device));
            ignore.Add(s.GtBboxesIgnore is { Length: > 0 } ig ? ToDevice(tensor(ig, [ig.Length / 4, 4]), device) : null);
            if (anyMasks)
                masks.Add(s.GtMasks ?? throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_masks while others in its batch do."));
        }
        return new DetDataBatch
        {
            Img = img, ImgMetas = metas, GtBboxes = boxes, GtLabels = labels, GtBboxesIgnore = ignore,
            GtMasks = anyMasks ? masks : null, Proposals = proposals, GtSemanticSeg = CollateSemanticSeg(samples, device), Samples = samples, Owner = owner,
        };
    }

    /// <summary>
    /// The collected <c>gt_semantic_seg</c> maps as one [N, 1, H, W] uint8 tensor (mmcv's stacked DataContainer): each map
    /// padded bottom/right with its <see cref="DetSample.SegCollatePadValue"/> (255) to the batch's largest height and
    /// width; null when no sample collected one.
    /// </summary>
    private static Tensor? CollateSemanticSeg(IReadOnlyList<DetSample> samples, Device device)
    {
        const string key = Transforms.LoadAnnotations.SemanticSegKey;
        static bool Collected(DetSample s) => s.CollectedKeys?.Contains(key) ?? false;
        if (!samples.Any(Collected)) return null;
        var maps = samples.Select(s => Collected(s) && s.GetSeg(key) is { } m ? m
            : throw new DetSharpException($"collate: sample '{s.OriFilename}' has no gt_semantic_seg while others in its batch do (LoadAnnotations(with_seg=True) and Collect keys 'gt_semantic_seg').")).ToList();
        int h = maps.Max(m => m.Height), w = maps.Max(m => m.Width);
        var data = new byte[maps.Count * h * w];
        for (int i = 0; i < maps.Count; i++)
        {
            var padded = maps[i].Height == h && maps[i].Width == w ? maps[i] : maps[i].Pad(h, w, samples[i].SegCollatePadValue);
            padded.Data.CopyTo(data, i * h * w);
        }
        return ToDevice(tensor(data, [maps.Count, 1, h, w]), device);
    }

    /// <summary>The collected <c>proposals</c> per image ([N, 4], ToDataContainer's stack=False), or null when no sample has them.</summary>
    private static List<Tensor>? CollateProposals(IReadOnlyList<DetSample> samples, Device device)
    {
        static bool Collected(DetSample s) => s.CollectedKeys?.Contains(Transforms.LoadProposals.Key) ?? false;
        if (!samples.Any(Collected)) return null;
        return samples.Select(s => Collected(s) && s.GetBoxes(Transforms.LoadProposals.Key) is { } p
            ? ToDevice(tensor(p, [p.Length / 4, 4]), device)
            : throw new DetSharpException($"collate: sample '{s.OriFilename}' has no proposals while others in its batch do (LoadProposals and Collect keys 'proposals').")).ToList();
    }

    private static Tensor ToDevice(Tensor t, Device device)
    {
        if (device.type == DeviceType.CPU) return t;
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }
}
