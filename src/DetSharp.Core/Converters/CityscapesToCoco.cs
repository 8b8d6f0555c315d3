using System.Runtime.InteropServices;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Converters;

/// <summary>Options of <c>detsharp convert cityscapes</c> (MMDetection's tools/dataset_converters/cityscapes.py).</summary>
public sealed record CityscapesToCocoOptions
{
    public required string CityscapesPath { get; init; }
    public string ImgDir { get; init; } = "leftImg8bit";
    public string GtDir { get; init; } = "gtFine";
    /// <summary>Output folder (default: <see cref="CityscapesPath"/>).</summary>
    public string? OutDir { get; init; }
    public int Nproc { get; init; } = 1;
    public IReadOnlyList<string> Splits { get; init; } = ["train", "val", "test"];
    public long FirstAnnotationId { get; init; } = 1;
}

/// <summary>
/// Cityscapes gtFine <c>*_instanceIds.png</c> → <c>instancesonly_filtered_gtFine_{split}.json</c>, as MMDetection's
/// converter: images <c>{img_dir}/{split}/{city}/*leftImg8bit.png</c> (sorted here, for a stable order); per image the
/// instance ids ≥ 24 in increasing order, label = id // 1000 (id ≥ 1000) or id (crowd, iscrowd 1), only labels that
/// have instances and are evaluated (person 24, rider 25, car 26, truck 27, bus 28, train 31, motorcycle 32,
/// bicycle 33); compressed RLE segmentation with bbox and area from the RLE; image ids from 0; no 'annotations' key
/// when a split has none. Annotation ids start at <see cref="CityscapesToCocoOptions.FirstAnnotationId"/> (1; MMDetection
/// uses 0, which pycocotools can never match).
/// </summary>
public static class CityscapesToCoco
{
    public static readonly IReadOnlyList<(int Id, string Name)> Categories =
        [(24, "person"), (25, "rider"), (26, "car"), (27, "truck"), (28, "bus"), (31, "train"), (32, "motorcycle"), (33, "bicycle")];

    private static readonly HashSet<int> Ignored = [29, 30]; // caravan, trailer: instances, but ignored in evaluation

    public sealed record SplitSummary(string Split, string Output, int Images, int Annotations);

    public static IReadOnlyList<SplitSummary> Convert(CityscapesToCocoOptions o, Action<string>? log = null)
    {
        string outDir = o.OutDir ?? o.CityscapesPath;
        string imgRoot = Path.Combine(o.CityscapesPath, o.ImgDir), gtRoot = Path.Combine(o.CityscapesPath, o.GtDir);
        var results = new List<SplitSummary>();
        var problems = new List<string>();
        var outputs = new List<(string Path, byte[] Bytes, SplitSummary Summary)>();
        foreach (var split in o.Splits)
        {
            string imgDir = Path.Combine(imgRoot, split), gtDir = Path.Combine(gtRoot, split);
            if (!Directory.Exists(imgDir))
            {
                log?.Invoke($"skipping {split}: no folder {imgDir}");
                continue;
            }
            const string suffix = "leftImg8bit.png";
            var files = new List<(string Img, string Inst, string Segm)>();
            foreach (var cityDir in Directory.GetDirectories(imgDir).Order(StringComparer.Ordinal))
            {
                foreach (var img in Directory.GetFiles(cityDir, "*.png").Order(StringComparer.Ordinal))
                {
                    if (!img.EndsWith(suffix, StringComparison.Ordinal))
                    {
                        problems.Add($"{img}: not a '*{suffix}' image");
                        continue;
                    }
                    string stem = gtDir + img[imgDir.Length..^suffix.Length];
                    files.Add((img, stem + "gtFine_instanceIds.png", stem + "gtFine_labelIds.png"));
                }
            }
            if (files.Count == 0)
            {
                problems.Add($"{imgDir}: no images found (expected {split}/<city>/*_{suffix})");
                continue;
            }
            var infos = new ImageResult?[files.Count];
            var fileProblems = new string?[files.Count];
            Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, o.Nproc) }, i =>
            {
                try { infos[i] = LoadImageInfo(files[i].Img, files[i].Inst, files[i].Segm); }
                catch (DetSharpException e) { fileProblems[i] = e.Message; }
            });
            foreach (var p in fileProblems) if (p is not null) problems.Add(p);
            if (problems.Count > 0) continue;

            var images = new List<CocoImageOut>();
            var anns = new List<CocoAnnotationOut>();
            long annId = o.FirstAnnotationId;
            for (int i = 0; i < infos.Length; i++)
            {
                var info = infos[i]!;
                images.Add(info.Image with { Id = i });
                foreach (var a in info.Annotations) anns.Add(a with { Id = annId++, ImageId = i });
            }
            string json = Path.Combine(outDir, $"instancesonly_filtered_gtFine_{split}.json");
            var bytes = CocoJsonWriter.Write(images, anns, Categories.Select(c => ((long)c.Id, c.Name)).ToList(), omitEmptyAnnotations: true);
            outputs.Add((json, bytes, new SplitSummary(split, json, images.Count, anns.Count)));
        }
        if (problems.Count > 0) throw new ConversionException(problems);
        if (outputs.Count == 0) throw new DetSharpException($"{imgRoot}: none of the splits {string.Join(", ", o.Splits)} has a folder; nothing to convert.");
        foreach (var (path, bytes, summary) in outputs)
        {
            AtomicFile.WriteAllBytes(path, bytes);
            results.Add(summary);
        }
        return results;
    }

    private sealed record ImageResult(CocoImageOut Image, List<CocoAnnotationOut> Annotations);

    private static ImageResult LoadImageInfo(string imgFile, string instFile, string segmFile)
    {
        if (!File.Exists(instFile)) throw new DetSharpException($"{instFile}: instance-id image missing for {imgFile}");
        using var inst = Cv2.ImRead(instFile, ImreadModes.Unchanged);
        if (inst.Empty()) throw new DetSharpException($"{instFile}: OpenCV cannot decode it");
        if (inst.Channels() != 1 || (inst.Depth() != MatType.CV_16U && inst.Depth() != MatType.CV_8U && inst.Depth() != MatType.CV_32S))
            throw new DetSharpException($"{instFile}: expected a single-channel 16-bit instance-id PNG, got {inst.Channels()} channel(s) of {inst.Type()}");
        int h = inst.Rows, w = inst.Cols;
        var ids = new int[h * w];
        using (var i32 = new Mat())
        {
            inst.ConvertTo(i32, MatType.CV_32SC1);
            using var cont = i32.IsContinuous() ? i32 : i32.Clone();
            Marshal.Copy(cont.Data, ids, 0, ids.Length);
        }
        var unique = new SortedSet<int>();
        foreach (int v in ids) if (v >= 24) unique.Add(v);
        var anns = new List<CocoAnnotationOut>();
        var mask = new byte[h * w];
        foreach (int instId in unique)
        {
            int labelId = instId >= 1000 ? instId / 1000 : instId;
            if (labelId > 33)
                throw new DetSharpException($"{instFile}: instance id {instId} has label id {labelId}, which is not a Cityscapes label (0..33)");
            if (Ignored.Contains(labelId)) continue;
            for (int k = 0; k < ids.Length; k++) mask[k] = ids[k] == instId ? (byte)1 : (byte)0;
            var rle = Rle.Encode(mask, h, w);
            var box = rle.ToBbox();
            anns.Add(new CocoAnnotationOut(0, 0, labelId, [box.X, box.Y, box.W, box.H], rle.Area(), instId < 1000, Rle: rle));
        }
        string video = Path.GetFileName(Path.GetDirectoryName(imgFile))!;
        var image = new CocoImageOut(0, video + "/" + Path.GetFileName(imgFile), h, w, video + "/" + Path.GetFileName(segmFile));
        return new ImageResult(image, anns);
    }
}
