using System.CommandLine;
using DetSharp.Apis;
using DetSharp.Evaluation;
using DetSharp.IO;
using DetSharp.Logging;
using DetSharp.Structures;
using DetSharp.Visualization;
using OpenCvSharp;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp infer</c>: MMDetection's <c>demo/image_demo.py</c> for many images — draws detections (masks, boxes,
/// class and score) on each input and optionally writes all detections as COCO results JSON — and its
/// <c>video_demo.py</c> / <c>webcam_demo.py</c> for video files and cameras (<see cref="VideoInference"/>).
/// </summary>
internal static class InferCommand
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase)
        { ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp" };

    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Config file of the model." };
        var checkpoint = new Argument<string>("checkpoint") { Description = "Checkpoint (.pth) written by detsharp train or MMDetection (with --backend onnxruntime: the .onnx from detsharp export onnx): a file, an http(s):// URL or a torchvision:// / open-mmlab:// / mmcls:// name (downloaded once into torch's cache)." };
        var inputs = new Argument<string[]>("inputs") { Description = "Image files, folders or glob patterns (e.g. 'data/val/*.jpg'), or video files (.mp4, .avi, ...).", Arity = ArgumentArity.ZeroOrMore };
        var camera = new Option<int?>("--camera") { Description = "Camera index (webcam_demo.py): records OUT_DIR/cameraN.mp4 until --max-frames or Ctrl+C." };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Stop a video or camera after this many frames." };
        var batchSize = new Option<int>("--batch-size") { Description = "Video frames per forward pass.", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string>("--out-dir") { Description = "Folder for the pictures (and results.json).", DefaultValueFactory = _ => "work_dirs/infer" };
        var scoreThr = new Option<float>("--score-thr") { Description = "Draw detections with at least this score.", DefaultValueFactory = _ => 0.3f };
        var palette = new Option<string>("--palette") { Description = "Class colours: coco, citys or random.", DefaultValueFactory = _ => "coco" };
        palette.AcceptOnlyFromAmong([.. Palette.Names]);
        var device = new Option<string>("--device") { Description = "cpu or cuda[:N].", DefaultValueFactory = _ => "cpu" };
        var backend = CommonOptions.Backend();
        var json = new Option<bool>("--json") { Description = "Also write every detection (no score threshold) to OUT_DIR/results.json in COCO results format." };
        var annFile = new Option<string?>("--ann-file")
        {
            Description = "COCO annotation file of the inputs: results.json then uses its image and category ids, so it evaluates with `detsharp coco-eval`.",
        };
        var command = new Command("infer", "Detect objects in images and draw the results.")
        {
            config, checkpoint, inputs, camera, maxFrames, batchSize, outDir, scoreThr, palette, device, json, annFile, backend, CommonOptions.FuseConvBn, CommonOptions.CfgOptions,
        };
        command.SetAction(parse =>
        {
            int? cameraIndex = parse.GetValue(camera);
            if (parse.GetValue(batchSize) < 1) throw new DetSharpException("--batch-size must be at least 1.");
            var given = parse.GetValue(inputs) ?? [];
            if (given.Length == 0 && cameraIndex is null) throw new DetSharpException("give images, folders, videos or --camera N.");
            var all = given.Length == 0 ? [] : ExpandInputs(given);
            var videos = all.Where(f => VideoInference.Extensions.Contains(Path.GetExtension(f))).ToList();
            var files = all.Except(videos).ToList();
            string output = parse.GetValue(outDir)!;
            // Every output is named and checked before anything is computed: one picture per input (a/x.jpg and
            // b/x.jpg become x.jpg and x_1.jpg), one .mp4 per video, and none of them may be an input (infer DIR --out-dir DIR).
            var folder = new OutputFolder(output);
            var pictures = files.Select(f => folder.PathFor(Path.GetFileName(f))).ToList();
            var films = videos.Select(v => folder.PathFor(Path.GetFileNameWithoutExtension(v) + ".mp4")).ToList();
            string? cameraFilm = cameraIndex is { } index ? folder.PathFor($"camera{index}.mp4") : null;
            var protectedInputs = new ProtectedInputs(all);
            for (int i = 0; i < files.Count; i++) protectedInputs.Check(pictures[i], "--out-dir picture");
            for (int i = 0; i < videos.Count; i++) protectedInputs.Check(films[i], "--out-dir video");
            string resultsJson = Path.Combine(folder.Root, "results.json");
            if (parse.GetValue(json)) protectedInputs.Check(resultsJson, "--json output");
            using var detector = CommonOptions.OpenDetector(parse.GetValue(backend)!, parse.GetValue(config)!, parse.GetValue(checkpoint)!,
                parse.GetValue(device)!, parse.GetValue(CommonOptions.CfgOptions));
            foreach (var warning in detector.Warnings) Console.Error.WriteLine($"warning: {warning}");
            if (parse.GetValue(CommonOptions.FuseConvBn)) Console.Error.WriteLine($"--fuse-conv-bn: {detector.FuseConvBn()} BatchNorms folded into their convs");
            var colours = Palette.Get(parse.GetValue(palette)!);
            float threshold = parse.GetValue(scoreThr);
            var ids = parse.GetValue(annFile) is { } ann ? ResultIds.FromAnnotations(ann, detector.ClassNames) : null;
            var entries = new List<CocoDetection>();
            RunVideos(detector, videos, films, cameraIndex, cameraFilm, colours, threshold, parse.GetValue(batchSize), parse.GetValue(maxFrames));
            if (files.Count == 0) return 0;
            var progress = Console.IsErrorRedirected ? null : new ProgressBar(files.Count, Console.Error, interactive: true);
            for (int i = 0; i < files.Count; i++)
            {
                string file = files[i];
                var set = detector.Infer(file);
                WritePicture(file, set, detector.ClassNames, colours, threshold, pictures[i]);
                if (parse.GetValue(json))
                {
                    long imageId = ids?.ImageId(file) ?? i;
                    foreach (var d in set.Detections)
                    {
                        long categoryId = ids?.CategoryId(d.Label) ?? d.Label;
                        entries.Add(new CocoDetection(imageId, categoryId, new BoxXywh(d.X1, d.Y1, d.X2 - d.X1, d.Y2 - d.Y1), d.Score, d.Mask));
                    }
                }
                if (progress is not null) progress.Update(i + 1);
                else Console.WriteLine($"{file}: {set.Above(threshold).Count()} detections with score >= {threshold}");
            }
            progress?.Finish();
            if (parse.GetValue(json))
            {
                CocoResultsWriter.Write(resultsJson, entries);
                Console.WriteLine($"wrote {entries.Count} detections to {resultsJson}");
            }
            Console.WriteLine($"wrote {files.Count} pictures to {output}");
            return 0;
        });
        return command;
    }

    private static void RunVideos(Detector detector, List<string> videos, List<string> films, int? cameraIndex, string? cameraFilm,
        Palette palette, float threshold, int batchSize, int? maxFrames)
    {
        if (videos.Count == 0 && cameraIndex is null) return;
        // Ctrl+C ends a recording the way the end of a file does (webcam_demo.py's Esc); the video is closed properly.
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            for (int i = 0; i < videos.Count; i++)
            {
                using var capture = new VideoCapture(videos[i]);
                Report(videos[i], films[i], VideoInference.Run(detector, capture, videos[i], films[i], palette, threshold, batchSize, maxFrames, stop.Token), threshold);
            }
            if (cameraIndex is { } index)
            {
                using var capture = new VideoCapture(index);
                Report($"camera {index}", cameraFilm!, VideoInference.Run(detector, capture, $"camera {index}", cameraFilm!, palette, threshold, batchSize, maxFrames, stop.Token), threshold);
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static void Report(string source, string film, VideoInference.Summary s, float threshold) =>
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{source}: {s.Frames} frames in {s.Seconds:F1} s, {s.FramesPerSecond:F2} frames/s (read, detect, draw, write); {s.Detections} detections with score >= {threshold}; wrote {film}"));

    private static void WritePicture(string file, DetectionSet set, IReadOnlyList<string> classes, Palette palette, float threshold, string target)
    {
        using var canvas = Datasets.Transforms.LoadImageFromFile.Read(file, ImreadModes.Color, "an input image");
        Draw(canvas, set, classes, palette, threshold);
        PictureFile.Write(target, canvas);
    }

    /// <summary>Draws the detections with at least <paramref name="threshold"/> on the image; returns how many.</summary>
    internal static int Draw(Mat canvas, DetectionSet set, IReadOnlyList<string> classes, Palette palette, float threshold)
    {
        var shown = set.Above(threshold)
            .Select(d => new DrawnInstance(d.X1, d.Y1, d.X2, d.Y2, d.Label, d.Score, d.BitmapMask(), set.Width))
            .Reverse() // highest scores drawn last, on top
            .ToList();
        DetectionPainter.Draw(canvas, shown, classes, palette);
        return shown.Count;
    }

    /// <summary>Files, folders (their images, sorted) and glob patterns (<c>*</c>, <c>?</c> in the file name) to image paths.</summary>
    internal static List<string> ExpandInputs(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                files.AddRange(Directory.EnumerateFiles(input).Where(f => ImageExtensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal));
            }
            else if (input.IndexOfAny(['*', '?']) >= 0)
            {
                string dir = Path.GetDirectoryName(input) is { Length: > 0 } d ? d : ".";
                if (!Directory.Exists(dir)) throw new DetSharpException($"{input}: folder '{dir}' not found.");
                var matched = Directory.EnumerateFiles(dir, Path.GetFileName(input)).Order(StringComparer.Ordinal).ToList();
                if (matched.Count == 0) throw new DetSharpException($"{input}: no file matches this pattern.");
                files.AddRange(matched);
            }
            else if (File.Exists(input))
            {
                files.Add(input);
            }
            else
            {
                throw new DetSharpException($"{input}: no such image file or folder.");
            }
        }
        if (files.Count == 0) throw new DetSharpException("no images found in the inputs.");
        return files;
    }

    /// <summary>Image and category ids of a COCO annotation file, matched by file name and class name.</summary>
    private sealed class ResultIds
    {
        private readonly Dictionary<string, long> _images;
        private readonly long[] _categories;

        private ResultIds(Dictionary<string, long> images, long[] categories)
        {
            _images = images;
            _categories = categories;
        }

        public static ResultIds FromAnnotations(string path, IReadOnlyList<string> classes)
        {
            var gt = CocoApi.Load(path);
            var images = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var image in gt.Images)
                if (image.FileName is { } name) images[Path.GetFileName(name)] = image.Id;
            var categories = new long[classes.Count];
            for (int i = 0; i < classes.Count; i++)
            {
                var match = gt.Categories.FirstOrDefault(c => c.Name == classes[i])
                            ?? throw new DetSharpException($"{path}: no category named '{classes[i]}' (the model's class {i}); its categories are: {string.Join(", ", gt.Categories.Select(c => c.Name))}.");
                categories[i] = match.Id;
            }
            return new ResultIds(images, categories);
        }

        public long ImageId(string file) => _images.TryGetValue(Path.GetFileName(file), out long id)
            ? id
            : throw new DetSharpException($"{file}: no image with this file name in the --ann-file annotations.");

        public long CategoryId(int label) => _categories[label];
    }
}
