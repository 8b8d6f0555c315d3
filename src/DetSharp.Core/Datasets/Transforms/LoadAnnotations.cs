using DetSharp.Registry;
using DetSharp.Structures;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>LoadAnnotations</c>: gt_bboxes / gt_bboxes_ignore (both registered in bbox_fields), gt_labels, and
/// gt_masks: with <c>poly2mask</c> bitmaps of img_info's size (polygons rasterised and merged as pycocotools,
/// uncompressed RLE converted, compressed RLE decoded), else polygon masks (parts with &lt; 6 numbers or an odd count dropped);
/// with <c>with_seg</c> gt_semantic_seg (in seg_fields): the single-channel PNG <c>seg_prefix/ann_info['seg_map']</c> read
/// unchanged (HTC's stuff maps).
/// </summary>
[Register(Registries.PipelinesName, "LoadAnnotations")]
public sealed class LoadAnnotations(bool withBbox = true, bool withLabel = true, bool withMask = false, bool withSeg = false,
    bool poly2mask = true, bool denormBbox = false, Config.ConfigDict? fileClientArgs = null) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        IO.FileClientArgs.Check(fileClientArgs, "LoadAnnotations");
        var ann = sample.AnnInfo ?? throw new InvalidOperationException("LoadAnnotations needs ann_info (a training or validation sample).");
        if (withBbox)
        {
            sample.GtBboxes = (float[])ann.Bboxes.Clone();
            if (denormBbox)
            {
                var info = sample.ImgInfo!;
                for (int i = 0; i < sample.GtBboxes.Length; i++) sample.GtBboxes[i] *= (i & 1) == 0 ? info.Width : info.Height;
            }
            sample.GtBboxesIgnore = (float[])ann.BboxesIgnore.Clone();
            sample.BboxFields.Add("gt_bboxes_ignore");
            sample.BboxFields.Add("gt_bboxes");
        }
        if (withLabel) sample.GtLabels = (long[])ann.Labels.Clone();
        if (withMask)
        {
            sample.GtMasks = poly2mask ? LoadBitmaps(sample, ann) : LoadPolygons(sample, ann);
            sample.MaskFields.Add("gt_masks");
        }
        if (withSeg)
        {
            sample.SetSeg(SemanticSegKey, LoadSeg(sample, ann));
            sample.SegFields.Add(SemanticSegKey);
        }
        return sample;
    }

    /// <summary>MMDetection's key of the semantic segmentation map.</summary>
    public const string SemanticSegKey = "gt_semantic_seg";

    private static SegMap LoadSeg(DetSample sample, AnnInfo ann)
    {
        var info = sample.ImgInfo!;
        string name = ann.SegMap ?? throw new DetSharpException($"LoadAnnotations: image id {info.Id} ('{info.FileName}') has no seg_map; with_seg=True needs a dataset that names one (CocoDataset: the file name with seg_suffix).");
        if (sample.SegPrefix is null)
            throw new DetSharpException($"LoadAnnotations: with_seg=True needs the dataset's seg_prefix (the folder of the segmentation maps, e.g. data/coco/stuffthingmaps/train2017/); image id {info.Id} has none.");
        string path = PyPath.Join(sample.SegPrefix, name);
        using var img = LoadImageFromFile.Read(path, OpenCvSharp.ImreadModes.Unchanged, $"the segmentation map of image id {info.Id} ('{info.FileName}', seg_prefix '{sample.SegPrefix}')");
        if (img.Channels() != 1 || img.Depth() != OpenCvSharp.MatType.CV_8U)
            throw new DetSharpException($"{path}: a segmentation map must be a single-channel 8-bit image of class ids (got {img.Channels()} channels, {img.Type()}); save it as a grayscale PNG.");
        return new SegMap(CvInterop.ToBytes(img), img.Rows, img.Cols);
    }

    private static string Where(DetSample sample, AnnInfo ann, int i) =>
        $"annotation id {(i < ann.AnnotationIds.Length ? ann.AnnotationIds[i] : -1)} of image id {sample.ImgInfo!.Id} ('{sample.ImgInfo.FileName}')";

    private static BitmapMasks LoadBitmaps(DetSample sample, AnnInfo ann)
    {
        int h = sample.ImgInfo!.Height, w = sample.ImgInfo.Width;
        var planes = new byte[ann.Masks.Length][];
        for (int i = 0; i < ann.Masks.Length; i++)
        {
            var seg = ann.Masks[i] ?? throw new DetSharpException($"{Where(sample, ann, i)} has no 'segmentation', which with_mask=True needs.");
            if (seg is PolygonSegmentation poly)
            {
                for (int p = 0; p < poly.Polygons.Length; p++)
                {
                    int len = poly.Polygons[p].Length;
                    if (len < 6 || len % 2 != 0)
                        throw new DetSharpException(
                            $"{Where(sample, ann, i)}: polygon {p} has {len} numbers; a polygon needs an even count of at least 6 (3 points). " +
                            "Fix or remove it (LoadAnnotations(poly2mask=False) drops such parts).");
                }
            }
        }
        Parallel.For(0, planes.Length, i =>
        {
            var seg = ann.Masks[i]!;
            var rle = seg.ToRle(h, w);
            if (rle.Height != h || rle.Width != w)
                throw new DetSharpException($"{Where(sample, ann, i)}: the RLE size {rle.Height}x{rle.Width} differs from the image's {h}x{w}.");
            planes[i] = rle.Decode();
        });
        return new BitmapMasks(planes, h, w);
    }

    private static PolygonMasks LoadPolygons(DetSample sample, AnnInfo ann)
    {
        int h = sample.ImgInfo!.Height, w = sample.ImgInfo.Width;
        var masks = new double[ann.Masks.Length][][];
        for (int i = 0; i < masks.Length; i++)
        {
            if (ann.Masks[i] is not PolygonSegmentation poly)
                throw new DetSharpException(
                    $"{Where(sample, ann, i)} has an RLE segmentation; LoadAnnotations(poly2mask=False) needs polygons. Use poly2mask=True.");
            var kept = new List<double[]>(poly.Polygons.Length);
            foreach (var p in poly.Polygons)
                if (p.Length % 2 == 0 && p.Length >= 6) kept.Add((double[])p.Clone());
            masks[i] = kept.ToArray();
        }
        return new PolygonMasks(masks, h, w);
    }
}
