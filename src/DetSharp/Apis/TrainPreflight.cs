using DetSharp.Datasets;

namespace DetSharp.Apis;

/// <summary>
/// Checks a training dataset before the first iteration, so that common set-up mistakes stop at once with one message
/// instead of deep inside an epoch: class names absent from the annotation file, an empty training set after filtering
/// (with the reason), and image files that do not exist. (A bare-string <c>classes</c> and num_classes vs classes are
/// checked by the dataset and by NumClassCheckHook.)
/// <para>Thread safety: stateless; safe from any thread.</para>
/// </summary>
public static class TrainPreflight
{
    public static void Check(IDetDataset dataset, string what)
    {
        foreach (var leaf in Leaves(dataset))
        {
            if (leaf is CocoDataset coco) CheckClasses(coco, what);
            if (leaf is CustomDataset custom && !custom.TestMode) CheckImages(custom, what);
        }
        if (dataset.Count == 0) throw new DetSharpException(EmptyReason(dataset, what));
    }

    /// <summary>The datasets a wrapper (Repeat, ClassBalanced, Concat, MultiImageMix) reads from.</summary>
    public static IEnumerable<IDetDataset> Leaves(IDetDataset dataset) => dataset switch
    {
        RepeatDataset r => Leaves(r.Dataset),
        ClassBalancedDataset c => Leaves(c.Dataset),
        MultiImageMixDataset m => Leaves(m.Dataset),
        ConcatDataset c => c.Datasets.SelectMany(Leaves),
        _ => [dataset],
    };

    private static void CheckClasses(CocoDataset coco, string what)
    {
        var names = coco.Coco.Categories.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var missing = coco.Classes.Where(c => !names.Contains(c)).ToList();
        if (missing.Count == 0) return;
        throw new DetSharpException(
            $"{what}: class name(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} of classes=({string.Join(", ", coco.Classes.Select(c => $"'{c}'"))}) "
            + $"are not category names in {coco.AnnFile} (its categories: {string.Join(", ", coco.Coco.Categories.Select(c => $"'{c.Name}'"))}). "
            + "MMDetection would silently drop them and shift the labels; fix the spelling in classes or in the annotation file.");
    }

    private static void CheckImages(CustomDataset dataset, string what)
    {
        var missing = new List<string>();
        var empty = new List<string>();
        int count = 0, emptyCount = 0;
        foreach (var info in dataset.DataInfos)
        {
            string path = dataset.ImgPrefix is null ? info.FileName! : PyPath.Join(dataset.ImgPrefix, info.FileName!);
            var file = new FileInfo(path);
            if (file.Exists)
            {
                // A 0-byte file (an interrupted copy) would otherwise fail deep in a loader worker.
                if (file.Length > 0) continue;
                emptyCount++;
                if (empty.Count < 3) empty.Add($"{path} (image id {info.Id})");
                continue;
            }
            count++;
            if (missing.Count < 3) missing.Add(path);
        }
        if (count > 0)
            throw new DetSharpException(
                $"{what}: {count} of {dataset.DataInfos.Count} image files listed in {dataset.AnnFile} do not exist (first: {string.Join(", ", missing)}). "
                + $"Check img_prefix ('{dataset.ImgPrefix}') and data_root, and that file_name in the annotation file matches the files.");
        if (emptyCount > 0)
            throw new DetSharpException(
                $"{what}: {emptyCount} of {dataset.DataInfos.Count} image files listed in {dataset.AnnFile} are empty (0 bytes) (first: {string.Join(", ", empty)}). "
                + "Copy them again or remove their records from the annotation file.");
    }

    private static string EmptyReason(IDetDataset dataset, string what)
    {
        var parts = new List<string>();
        foreach (var leaf in Leaves(dataset).OfType<CocoDataset>())
        {
            var catIds = leaf.CatIds.ToHashSet();
            var withAnn = leaf.Coco.Annotations.Where(a => catIds.Contains(a.CategoryId)).Select(a => a.ImageId).ToHashSet();
            int small = leaf.Coco.Images.Count(i => Math.Min(i.Width, i.Height) < 32);
            parts.Add($"{leaf.AnnFile} lists {leaf.Coco.Images.Count} images, {withAnn.Count} of them have an annotation of the selected classes "
                      + $"({string.Join(", ", leaf.Classes)}), {small} are smaller than 32 px");
        }
        string detail = parts.Count == 0 ? "" : " " + string.Join("; ", parts) + ".";
        return $"{what}: the training set is empty after filtering (filter_empty_gt=True drops images without an annotation of the selected classes, "
               + $"and images under 32 px are dropped).{detail} Check classes against the annotation file's categories, or the annotations themselves.";
    }
}
