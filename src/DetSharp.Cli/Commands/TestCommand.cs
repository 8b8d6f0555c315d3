using System.CommandLine;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.IO;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp test</c>: MMDetection's tools/test.py.</summary>
internal static class TestCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Test config file." };
        var checkpoint = new Argument<string>("checkpoint") { Description = "Checkpoint: a .pth file, an http(s):// URL or a torchvision:// / open-mmlab:// / mmcls:// name (downloaded once into torch's cache); with --backend onnxruntime the .onnx from `detsharp export onnx` (exported with this config and --cfg-options' test pipeline)." };
        var workDir = new Option<string?>("--work-dir") { Description = "Where eval_<time>.json with the metrics is written." };
        var output = new Option<string?>("--out") { Description = "Write the raw per-image results to this .json file." };
        var formatOnly = new Option<bool>("--format-only") { Description = "Only write the results in COCO format (<jsonfile_prefix>.bbox.json / .segm.json), e.g. for a test server." };
        var eval = new Option<string[]>("--eval") { Description = "Metrics: bbox, segm, proposal.", AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.ZeroOrMore };
        var showDir = new Option<string?>("--show-dir") { Description = "Draw the detections into pictures in this folder." };
        var showThr = new Option<double>("--show-score-thr") { Description = "Score threshold for --show-dir.", DefaultValueFactory = _ => 0.3 };
        var evalOptions = new Option<string[]>("--eval-options")
        {
            Description = "Arguments of dataset.evaluate / format_results as key=value, e.g. classwise=True jsonfile_prefix=out/res.",
            AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.ZeroOrMore,
        };
        var launcher = CommonOptions.Launcher();
        var backend = CommonOptions.Backend();
        var command = new Command("test", "Test (and evaluate) a detector on data.test, as MMDetection's tools/test.py; --backend onnxruntime tests the .onnx of `detsharp export onnx` the same way.")
        {
            config, checkpoint, workDir, output, formatOnly, eval, showDir, showThr, evalOptions, launcher, backend, CommonOptions.FuseConvBn, CommonOptions.CfgOptions,
        };
        command.SetAction(parse => CommonOptions.InProcessGroup(parse.GetValue(launcher)!, group =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            if (group.Rank == 0) foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
            var kwargs = new Dictionary<string, object?>();
            foreach (var (k, v) in CfgOptions.Parse(parse.GetValue(evalOptions) ?? [])) kwargs[k] = v;
            var options = new TestOptions
            {
                Checkpoint = parse.GetValue(checkpoint)!,
                Backend = parse.GetValue(backend)!,
                WorkDir = parse.GetValue(workDir),
                Out = parse.GetValue(output),
                FormatOnly = parse.GetValue(formatOnly),
                Eval = parse.GetValue(eval),
                ShowDir = parse.GetValue(showDir),
                ShowScoreThr = parse.GetValue(showThr),
                FuseConvBn = parse.GetValue(CommonOptions.FuseConvBn),
                EvalOptions = kwargs,
                Console = Console.Out,
                Interactive = group.Rank == 0 && !Console.IsOutputRedirected,
                ProcessGroup = group,
            };
            // Results written over the checkpoint, the config or the annotations would destroy an input.
            var inputs = new ProtectedInputs([options.Checkpoint, cfg.Filename, .. cfg.Get<object?>("data.test.ann_file", null) is string ann ? [ann] : Array.Empty<string>()]);
            if (options.Out is { } outFile) inputs.Check(outFile, "--out");
            TestDetector.Run(cfg, options);
            return 0;
        }));
        return command;
    }
}
