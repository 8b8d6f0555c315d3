using System.CommandLine;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Models.Onnx;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp export onnx CONFIG CHECKPOINT -o model.onnx [--shape H W] [--opset N]</c>: MMDeploy's ONNX export for
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
        var dynamic = new Option<bool>("--dynamic") { Description = "Dynamic input size (not supported yet: refused)." };
        var cmd = new Command("onnx", "Write the whole detector (backbone, neck, head, box decoding, NMS) as one ONNX model for ONNX Runtime.")
        {
            config, checkpoint, output, shape, opset, dynamic, CommonOptions.CfgOptions,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(dynamic))
                throw new DetSharpException("--dynamic is not supported yet: the priors are constants for one input size. Export with --shape H W (images are padded to it).");
            var hw = parse.GetValue(shape);
            if (hw is not null && hw.Length is not (0 or 2)) throw new DetSharpException($"--shape takes two numbers, H W; got {hw.Length}.");
            string path = parse.GetValue(output)!;
            new IO.ProtectedInputs([parse.GetValue(config)!, parse.GetValue(checkpoint)!]).Check(path, "--output");
            var cfg = ConfigTools.Load(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            var (h, w) = OnnxExport.Export(cfg, parse.GetValue(checkpoint), path, hw is { Length: 2 } ? (hw[0], hw[1]) : null, parse.GetValue(opset));
            Console.Out.WriteLine($"wrote {path}: input 1 x 3 x {h} x {w}, outputs dets, labels (opset {parse.GetValue(opset)})");
            return 0;
        });
        return cmd;
    }
}
