using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Engine.Checkpoints;
using DetSharp.IO;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Visualization;
using OpenCvSharp;

namespace DetSharp.Apis;

/// <summary>The command-line switches of MMDetection's tools/test.py.</summary>
public sealed record TestOptions
{
    public required string Checkpoint { get; init; }

    public string? WorkDir { get; init; }

    /// <summary>Raw per-image results as JSON (tools/test.py writes a pickle).</summary>
    public string? Out { get; init; }

    public bool FormatOnly { get; init; }

    public IReadOnlyList<string>? Eval { get; init; }

    public string? ShowDir { get; init; }

    public double ShowScoreThr { get; init; } = 0.3;

    /// <summary><c>--eval-options k=v</c>, values already parsed.</summary>
    public IReadOnlyDictionary<string, object?> EvalOptions { get; init; } = new Dictionary<string, object?>();

    public TextWriter Console { get; init; } = TextWriter.Null;

    /// <summary>Redraw the progress bar in place (an interactive terminal).</summary>
    public bool Interactive { get; init; }
}

/// <summary>MMDetection's tools/test.py: build the test set and the model, load the checkpoint, run, then format/evaluate/show.</summary>
public static class TestDetector
{
    /// <summary>Runs the test; returns the metrics when evaluating (else null).</summary>
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

        var modelCfg = cfg.Get<ConfigDict>("model").Clone();
        modelCfg.Remove("pretrained");
        if (modelCfg.TryGetValue("backbone", out var bb) && bb is ConfigDict backbone) { backbone = backbone.Clone(); backbone["init_cfg"] = null; modelCfg["backbone"] = backbone; }
        var model = Registries.Models.Build<BaseDetector>(modelCfg);
        IReadOnlyList<string> classes;
        using (var ckpt = Checkpoint.Load(o.Checkpoint))
        {
            var report = Checkpoint.LoadStateDict(model, ckpt.StateDict, strict: false);
            if (report.Message is { } warn) o.Console.WriteLine($"The model and loaded state dict do not match exactly\n{warn}");
            classes = ckpt.Classes ?? dataset.Classes;
            if (ckpt.Classes is null) o.Console.WriteLine("warning: the checkpoint meta has no CLASSES; using the dataset's classes.");
        }
        model.eval();

        var results = new List<ImageDetections>(dataset.Count);
        var watch = Stopwatch.StartNew();
        var rng = new Random(0);
        var showDir = o.ShowDir is null ? null : new OutputFolder(o.ShowDir);
        for (int i = 0; i < dataset.Count; i++)
        {
            using (var sample = dataset.GetItem(i, rng)) results.AddRange(Inference.Run(model, [sample]));
            if (showDir is not null) Show(dataset, i, results[^1], classes, showDir, o.ShowScoreThr);
            Progress(o, i + 1, dataset.Count, watch.Elapsed.TotalSeconds);
        }
        o.Console.WriteLine();

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
        if (o.WorkDir is not null)
        {
            Directory.CreateDirectory(o.WorkDir);
            string ts = DateTime.Now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
            var metric = evaluated.Values.ToDictionary(kv => kv.Key, kv => kv.Value);
            var doc = new Dictionary<string, object> { ["config"] = cfg.Filename, ["metric"] = metric };
            File.WriteAllText(Path.Combine(o.WorkDir, $"eval_{ts}.json"), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        }
        return evaluated.Values;
    }

    /// <summary>Python's <c>print(dict)</c> of the metrics: <c>{'bbox_mAP': 0.123, ..., 'bbox_mAP_copypaste': '0.123 ...'}</c>.</summary>
    public static string PyDictRepr(OrderedDictionary<string, object> values) =>
        "OrderedDict([" + string.Join(", ", values.Select(kv => $"('{kv.Key}', {(kv.Value is string s ? $"'{s}'" : PyFormat.Float(Convert.ToDouble(kv.Value, CultureInfo.InvariantCulture)))})")) + "])";

    private static void Progress(TestOptions o, int done, int total, double elapsed)
    {
        const int width = 40;
        int filled = (int)(width * (double)done / total);
        double rate = done / Math.Max(elapsed, 1e-9);
        long eta = (long)Math.Round((total - done) / Math.Max(rate, 1e-9));
        string line = $"[{new string('>', filled)}{new string(' ', width - filled)}] {done}/{total}, {rate.ToString("F1", CultureInfo.InvariantCulture)} task/s, elapsed: {(long)Math.Round(elapsed)}s, ETA: {eta,5}s";
        if (o.Interactive) o.Console.Write("\r" + line);
        else if (done == total) o.Console.Write(line);
    }

    private static void Show(CocoDataset dataset, int index, ImageDetections r, IReadOnlyList<string> classes, OutputFolder dir, double thr)
    {
        var info = dataset.DataInfos[index];
        string path = dataset.ImgPrefix is null ? info.FileName! : PyPath.Join(dataset.ImgPrefix, info.FileName!);
        // file_name comes from the annotation file: the folder keeps it from leading outside, and the image itself is never the target.
        string outPath = dir.PathFor(info.FileName!);
        new ProtectedInputs([path]).Check(outPath, "--show-dir picture");
        using var img = Datasets.Transforms.LoadImageFromFile.Read(path, ImreadModes.Color, $"image id {info.Id} ('{info.FileName}')");
        var instances = new List<DrawnInstance>();
        for (int k = 0; k < r.Count; k++)
        {
            if (r.Scores[k] < thr) continue;
            instances.Add(new DrawnInstance(r.Bboxes[k * 4], r.Bboxes[k * 4 + 1], r.Bboxes[k * 4 + 2], r.Bboxes[k * 4 + 3], r.Labels[k], r.Scores[k],
                r.Masks is null ? null : r.BitmapMask(k), r.Masks is null ? 0 : r.OriShape.Width));
        }
        DetectionPainter.Draw(img, instances, classes, Palette.Spread);
        PictureFile.Write(outPath, img);
    }

    private static void WriteRaw(string path, IReadOnlyList<ImageDetections> results, CocoDataset dataset)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartArray();
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            w.WriteStartObject();
            w.WriteNumber("image_id", dataset.ImgIds[i]);
            w.WriteString("file_name", dataset.DataInfos[i].FileName);
            w.WriteStartArray("bboxes");
            for (int k = 0; k < r.Count; k++)
            {
                w.WriteStartArray();
                for (int c = 0; c < 4; c++) w.WriteNumberValue(r.Bboxes[k * 4 + c]);
                w.WriteNumberValue(r.Scores[k]);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("labels");
            foreach (var l in r.Labels) w.WriteNumberValue(l);
            w.WriteEndArray();
            if (r.Masks is not null)
            {
                w.WriteStartArray("segms");
                foreach (var m in r.Masks)
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
