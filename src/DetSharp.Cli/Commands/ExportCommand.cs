using System.CommandLine;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Models.Onnx;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp export onnx CONFIG CHECKPOINT -o model.onnx [--shape H W | --dynamic] [--opset N] [--skip-postprocess]</c>: MMDeploy's ONNX export for
/// DetSharp's models (<see cref="OnnxExport"/>); the file runs with <c>detsharp infer --backend onnxruntime</c> or
/// <see cref="Detector.FromOnnx"/>.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var command = new Command("export", "Export a trained detector for deployment.");
        command.Subcommands.Add(Onnx());
        return command;
    }

    private static Command Onnx()
    {
        var config = new Argument<string>("config") { Description = "Config file of the model." };
        var checkpoint = new Argument<string>("checkpoint") { Description = "Checkpoint (.pth) written by detsharp train or MMDetection (a file, URL or model-zoo name)." };
        var output = new Option<string>("--output", "-o") { Description = "The .onnx file to write.", Required = true };
        var shape = new Option<long[]>("--shape")
        {
            Description = "Input height and width (default: the test scale padded to the pad divisor, landscape: 800 1344 for (1333, 800)).",
            AllowMultipleArgumentsPerToken = true,
        };
        var opset = new Option<int>("--opset") { Description = "ONNX opset (13 or newer).", DefaultValueFactory = _ => OnnxGraphBuilder.DefaultOpset };
        var dynamic = new Option<bool>("--dynamic")
        {
            Description = "Dynamic input size: input [1, 3, height, width] with symbolic height and width, priors generated in the graph; "
                          + "each image is padded only to the pad divisor (instead of --shape).",
        };
        var skipPostprocess = new Option<bool>("--skip-postprocess", "--simplify-postprocess")
        {
            Description = "One-stage detectors only (MMDetection's pytorch2onnx --skip-postprocess): the graph ends at the dense head's raw "
                          + "maps per level (cls_score_L, bbox_pred_L, score_factor_L), for a runtime with its own box decoding and NMS; "
                          + "detsharp infer/test --backend onnxruntime decode them with the config's test_cfg.",
        };
        var cmd = new Command("onnx", "Write the whole detector (backbone, neck, head, box decoding, NMS) as one ONNX model for ONNX Runtime.")
        {
            config, checkpoint, output, shape, opset, dynamic, skipPostprocess, CommonOptions.CfgOptions,
        };
        cmd.SetAction(parse =>
        {
            var hw = parse.GetValue(shape);
            if (hw is not null && hw.Length is not (0 or 2)) throw new DetSharpException($"--shape takes two numbers, H W; got {hw.Length}.");
            bool isDynamic = parse.GetValue(dynamic);
            if (isDynamic && hw is { Length: 2 }) throw new DetSharpException("--shape and --dynamic exclude each other: --dynamic takes any input size.");
            string path = parse.GetValue(output)!;
            new IO.ProtectedInputs([parse.GetValue(config)!, parse.GetValue(checkpoint)!]).Check(path, "--output");
            var cfg = ConfigTools.Load(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            bool raw = parse.GetValue(skipPostprocess);
            string input;
            if (isDynamic)
            {
                OnnxExport.ExportDynamic(cfg, parse.GetValue(checkpoint), path, parse.GetValue(opset), raw);
                input = "1 x 3 x height x width (dynamic)";
            }
            else
            {
                var (h, w) = OnnxExport.Export(cfg, parse.GetValue(checkpoint), path, hw is { Length: 2 } ? (hw[0], hw[1]) : null, parse.GetValue(opset), raw);
                input = $"1 x 3 x {h} x {w}";
            }
            string outputs = raw ? "the dense head's raw maps per level (cls_score_L, bbox_pred_L[, score_factor_L]); no post-processing in the graph"
                : "dets, labels[, masks]";
            Console.Out.WriteLine($"wrote {path}: input {input}, outputs {outputs} (opset {parse.GetValue(opset)})");
            return 0;
        });
        return cmd;
    }
}
