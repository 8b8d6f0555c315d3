using System.CommandLine;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.IO;
using DetSharp.Visualization;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp browse-dataset CONFIG --output-dir DIR</c>: MMDetection's tools/misc/browse_dataset.py. Runs the
/// training pipeline (RepeatDataset / ClassBalancedDataset unwrapped, the --skip-type transforms removed) and writes each
/// image with its ground-truth boxes, class names and masks drawn, as PNG named after the image's file_name.
/// </summary>
internal static class BrowseDatasetCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Config file." };
        var outputDir = new Option<string?>("--output-dir") { Description = "Where to write the PNGs." };
        var skipType = new Option<string[]>("--skip-type")
        {
            Description = "Pipeline transforms to skip.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["DefaultFormatBundle", "Normalize", "Collect"],
        };
        var notShow = new Option<bool>("--not-show") { Description = "Accepted for MMDetection compatibility; DetSharp never opens a window." };
        var showInterval = new Option<double>("--show-interval") { Description = "Accepted for compatibility (no window).", DefaultValueFactory = _ => 2 };
        var limit = new Option<int?>("--limit") { Description = "Only the first N images." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random transforms.", DefaultValueFactory = _ => 0 };
        var command = new Command("browse-dataset", "Draw the training pipeline's output (boxes, labels, masks) to PNG files.")
        {
            config, outputDir, skipType, notShow, showInterval, limit, seed, CommonOptions.CfgOptions,
        };
        command.SetAction(parse =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            string? dir = parse.GetValue(outputDir);
            if (dir is null)
            {
                Console.Error.WriteLine("error: --output-dir is required (DetSharp writes the images instead of showing them).");
                return 1;
            }
            int written = Run(cfg.Get<ConfigDict>("data.train"), dir, parse.GetValue(skipType) ?? [], parse.GetValue(limit), parse.GetValue(seed));
            Console.Out.WriteLine($"wrote {written} images to {dir}");
            return 0;
        });
        return command;
    }

    internal static int Run(ConfigDict trainCfg, string outputDir, IReadOnlyCollection<string> skip, int? limit, int seed)
    {
        var cfg = trainCfg.Clone();
        while (cfg.TryGetValue("type", out var t) && t is "RepeatDataset" or "ClassBalancedDataset")
            cfg = cfg.Get<ConfigDict>("dataset");
        if (cfg.TryGetValue("pipeline", out var p) && p is List<object?> steps)
        {
            var kept = new ConfigList();
            foreach (var step in steps)
                if (step is not ConfigDict d || !d.TryGetValue("type", out var type) || type is not string name || !skip.Contains(name)) kept.Add(step);
            cfg["pipeline"] = kept;
        }
        var dataset = DatasetBuilder.Build(cfg);
        foreach (var w in dataset.Warnings) Console.Error.WriteLine($"warning: {w}");
        // Named after file_name (sub-folders kept, so a/x.jpg and b/x.jpg stay two pictures), confined to the folder.
        var folder = new OutputFolder(outputDir);
        int n = Math.Min(dataset.Count, limit ?? int.MaxValue), written = 0;
        for (int i = 0; i < n; i++)
        {
            using var sample = dataset.GetItem(i, new Random(DataLoader.SampleSeed(seed, 0, i, 0)));
            using var canvas = GroundTruthPainter.Draw(sample, dataset.Classes);
            string target = folder.PathFor(sample.OriFilename ?? sample.Filename ?? $"{i}", ".png");
            if (sample.Filename is { } source) new ProtectedInputs([source]).Check(target, "--output-dir picture");
            PictureFile.Write(target, canvas);
            written++;
        }
        return written;
    }
}
