using System.Globalization;
using System.Text.Json;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Distributed;
using DetSharp.IO;
using DetSharp.Logging;
using DetSharp.Registry;
using DetSharp.Visualization;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace DetSharp.Apis;

/// <summary>
/// The command-line switches of MMDetection's tools/test.py, and what an application adds: an <see cref="ILogger"/>, a
/// progress receiver and a cancellation token.
/// <para>Thread safety: an immutable record; share it freely.</para>
/// </summary>
public sealed record TestOptions
{
    /// <summary>A .pth checkpoint, or with <see cref="Backend"/> <c>onnxruntime</c> the .onnx written by <c>detsharp export onnx</c>.</summary>
    public required string Checkpoint { get; init; }

    /// <summary>
    /// <c>libtorch</c> (the config's model with <see cref="Checkpoint"/>'s weights) or <c>onnxruntime</c> (the exported
    /// model in ONNX Runtime, <see cref="Detector.FromOnnx"/>): the same dataset, pipeline, results and evaluation.
    /// </summary>
    public string Backend { get; init; } = "libtorch";

    public string? WorkDir { get; init; }

    /// <summary>Raw per-image results as JSON (tools/test.py writes a pickle).</summary>
    public string? Out { get; init; }

    public bool FormatOnly { get; init; }

    public IReadOnlyList<string>? Eval { get; init; }

    public string? ShowDir { get; init; }

    public double ShowScoreThr { get; init; } = 0.3;

    /// <summary><c>--fuse-conv-bn</c>: BatchNorms folded into their convs before testing (<see cref="Detector.FuseConvBn"/>).</summary>
    public bool FuseConvBn { get; init; }

    /// <summary><c>--eval-options k=v</c>, values already parsed.</summary>
    public IReadOnlyDictionary<string, object?> EvalOptions { get; init; } = new Dictionary<string, object?>();

    public TextWriter Console { get; init; } = TextWriter.Null;

    /// <summary>Redraw the progress bar in place (an interactive terminal).</summary>
    public bool Interactive { get; init; }

    /// <summary>Gets the warnings, the evaluation summary and the metrics, and a line per 10 % of the images tested.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Gets each image tested (images done of the dataset's).</summary>
    public IProgress<InferenceProgress>? Progress { get; init; }

    /// <summary>Stops before the next image with <see cref="OperationCanceledException"/>; nothing is evaluated or written.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>
    /// The ranks of a distributed test (<c>--launcher mpi|slurm</c>): each runs its share of the images, rank 0 gathers the
    /// results in dataset order, writes, evaluates and draws them; the other ranks print nothing.
    /// </summary>
    public IProcessGroup ProcessGroup { get; init; } = SingleProcessGroup.Instance;
}

/// <summary>
/// MMDetection's tools/test.py: build the test set and the model, load the checkpoint, run, then format/evaluate/show.
/// <para>Thread safety: stateless; each call builds its own model.</para>
/// </summary>
public static class TestDetector
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Runs the test; returns the metrics when evaluating (else null, and null on every rank but 0).</summary>
    public static OrderedDictionary<string, object>? Run(Config.Config cfg, TestOptions o)
    {
        if (o.Out is null && o.Eval is not { Count: > 0 } && !o.FormatOnly && o.ShowDir is null)
            throw new DetSharpException("Please specify at least one operation (save/eval/format/show the results) with the argument \"--out\", \"--eval\", \"--format-only\", \"--show\" or \"--show-dir\".");
        if (o.Eval is { Count: > 0 } && o.FormatOnly)
            throw new DetSharpException("--eval and --format-only cannot be both specified.");
        if (o.Out is not null && !o.Out.EndsWith(".json", StringComparison.Ordinal))
            throw new DetSharpException($"--out '{o.Out}': the output file must be a .json file (DetSharp writes JSON, not pickle).");
        ComponentRegistration.EnsureRegistered();

        var testCfg = cfg.Get<ConfigDict>("data.test");
        var dataset = DatasetBuilder.Build(testCfg, new Dictionary<string, object?> { ["test_mode"] = true }) as CocoDataset
                      ?? throw new DetSharpException("detsharp test needs data.test to be a CocoDataset (or a subclass such as CityscapesDataset).");

        using var detector = OpenDetector(cfg, o, dataset);
        if (o.FuseConvBn) o.Console.WriteLine($"--fuse-conv-bn: {detector.FuseConvBn()} BatchNorms folded into their convs");
        var group = o.ProcessGroup;
        var console = group.Rank == 0 ? o.Console : TextWriter.Null;
        var logger = group.Rank == 0 ? o.Logger : null;
        foreach (var warning in detector.Warnings)
        {
            console.WriteLine($"warning: {warning}");
            logger.Line(LogLevel.Warning, warning);
        }
        var classes = detector.ClassNames;

        var showDir = o.ShowDir is null ? null : new OutputFolder(o.ShowDir);
        var progress = new ProgressBar(dataset.Count, console, o.Interactive);
        int done = 0;
        // Distributed, rank 0's progress stands for every rank's (multi_gpu_test's), and the pictures are drawn after the gather.
        var gathered = MultiGpuTest.Run(detector.InferenceBackend, dataset, group, classes, (i, result) =>
        {
            if (showDir is not null && !group.IsDistributed) Show(dataset, i, result, classes, showDir, o.ShowScoreThr);
            int before = done;
            done = Math.Min(done + group.WorldSize, dataset.Count);
            progress.Update(done);
            o.Progress?.Report(new InferenceProgress(done, dataset.Count));
            if (done * 10 / dataset.Count > before * 10 / dataset.Count)
                logger.Line(LogLevel.Information, $"tested {done} of {dataset.Count} images");
        }, o.CancellationToken);
        progress.Finish();
        if (gathered is not { } results) return null;
        if (showDir is not null && group.IsDistributed)
            for (int i = 0; i < results.Count; i++) Show(dataset, i, results[i], classes, showDir, o.ShowScoreThr);

        if (o.Out is not null)
        {
            o.Console.WriteLine($"\nwriting results to {o.Out}");
            WriteRaw(o.Out, results, dataset);
        }
        var kwargs = new Dictionary<string, object?>(o.EvalOptions);
        if (o.FormatOnly)
        {
            string prefix = kwargs.TryGetValue("jsonfile_prefix", out var p) && p is string s ? s
                : Path.Combine(Directory.CreateTempSubdirectory("detsharp-results").FullName, "results");
            var files = CocoResultsFormat.Results2Json(results, dataset.ImgIds, dataset.CatIds, prefix);
            o.Console.WriteLine($"results are saved in {string.Join(", ", files.Where(f => f.Key != "proposal").Select(f => f.Value))}");
            return null;
        }
        if (o.Eval is not { Count: > 0 } metrics) return null;
        var evalKwargs = new Dictionary<string, object?>();
        foreach (var (k, v) in cfg.Get<ConfigDict?>("evaluation", null) ?? new ConfigDict())
            if (!DatasetEvaluation.HookOnlyKeys.Contains(k) && k != "metric") evalKwargs[k] = v;
        foreach (var (k, v) in kwargs) evalKwargs[k] = v;
        var (options, jsonPrefix) = DatasetEvaluation.Options(metrics, evalKwargs, dataset.CatIds);
        var evaluated = DatasetEvaluation.Evaluate(dataset, results, options, jsonPrefix);
        o.Console.Write(evaluated.Log);
        o.Console.WriteLine(PyDictRepr(evaluated.Values));
        o.Logger.Line(LogLevel.Information, evaluated.Log.TrimEnd('\n'));
        o.Logger.Line(LogLevel.Information, PyDictRepr(evaluated.Values));
        if (o.WorkDir is not null)
        {
            Directory.CreateDirectory(o.WorkDir);
            string ts = DateTime.Now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
            var metric = evaluated.Values.ToDictionary(kv => kv.Key, kv => kv.Value);
            var doc = new Dictionary<string, object> { ["config"] = cfg.Filename, ["metric"] = metric };
            File.WriteAllText(Path.Combine(o.WorkDir, $"eval_{ts}.json"), JsonSerializer.Serialize(doc, Indented));
        }
        return evaluated.Values;
    }

    /// <summary>
    /// The detector of <see cref="TestOptions.Backend"/>. An exported graph expects the preprocessing of the config it was
    /// exported from and has its post-processing built in, so the test set's <c>data.test.pipeline</c> and <c>model.test_cfg</c> (CONFIG with <c>--cfg-options</c>) must be those
    /// (<see cref="Detector.RequireExportedTestSettings"/>).
    /// </summary>
    private static Detector OpenDetector(Config.Config cfg, TestOptions o, CocoDataset dataset)
    {
        switch (o.Backend)
        {
            case "libtorch":
                return Detector.FromConfig(cfg, o.Checkpoint, datasetClasses: dataset.Classes);
            case "onnxruntime":
                var detector = Detector.FromOnnx(o.Checkpoint);
                try
                {
                    detector.RequireExportedTestSettings(cfg, o.Checkpoint);
                }
                catch
                {
                    detector.Dispose();
                    throw;
                }
                return detector;
            default:
                throw new DetSharpException($"backend '{o.Backend}': use libtorch or onnxruntime.");
        }
    }

    /// <summary>Python's <c>print(dict)</c> of the metrics: <c>{'bbox_mAP': 0.123, ..., 'bbox_mAP_copypaste': '0.123 ...'}</c>.</summary>
    public static string PyDictRepr(OrderedDictionary<string, object> values) =>
        "OrderedDict([" + string.Join(", ", values.Select(kv => $"('{kv.Key}', {(kv.Value is string s ? $"'{s}'" : PyFormat.Float(Convert.ToDouble(kv.Value, CultureInfo.InvariantCulture)))})")) + "])";

    private static void Show(CocoDataset dataset, int index, DetectionSet result, IReadOnlyList<string> classes, OutputFolder dir, double thr)
    {
        var info = dataset.DataInfos[index];
        string path = dataset.ImgPrefix is null ? info.FileName! : PyPath.Join(dataset.ImgPrefix, info.FileName!);
        // file_name comes from the annotation file: the folder keeps it from leading outside, and the image itself is never the target.
        string outPath = dir.PathFor(info.FileName!);
        new ProtectedInputs([path]).Check(outPath, "--show-dir picture");
        using var img = Datasets.Transforms.LoadImageFromFile.Read(path, ImreadModes.Color, $"image id {info.Id} ('{info.FileName}')");
        // In bbox2result order, as MMDetection's show_result draws them.
        var instances = result.InClassOrder().Where(d => d.Score >= thr)
            .Select(d => new DrawnInstance(d.X1, d.Y1, d.X2, d.Y2, d.Label, d.Score, d.BitmapMask(), d.Mask is null ? 0 : result.Width))
            .ToList();
        DetectionPainter.Draw(img, instances, classes, Palette.Spread);
        PictureFile.Write(outPath, img);
    }

    /// <summary>The raw per-image results (tools/test.py's pickle as JSON): boxes with scores, labels and RLE masks in bbox2result order.</summary>
    private static void WriteRaw(string path, IReadOnlyList<DetectionSet> results, CocoDataset dataset)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartArray();
        for (int i = 0; i < results.Count; i++)
        {
            var detections = results[i].InClassOrder().ToList();
            w.WriteStartObject();
            w.WriteNumber("image_id", dataset.ImgIds[i]);
            w.WriteString("file_name", dataset.DataInfos[i].FileName);
            w.WriteStartArray("bboxes");
            foreach (var d in detections)
            {
                w.WriteStartArray();
                w.WriteNumberValue(d.X1); w.WriteNumberValue(d.Y1); w.WriteNumberValue(d.X2); w.WriteNumberValue(d.Y2); w.WriteNumberValue(d.Score);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("labels");
            foreach (var d in detections) w.WriteNumberValue(d.Label);
            w.WriteEndArray();
            if (results[i].HasMasks)
            {
                w.WriteStartArray("segms");
                foreach (var m in detections.Select(d => d.Mask!))
                {
                    w.WriteStartObject();
                    w.WriteStartArray("size"); w.WriteNumberValue(m.Height); w.WriteNumberValue(m.Width); w.WriteEndArray();
                    w.WriteString("counts", m.ToCompressedString());
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
