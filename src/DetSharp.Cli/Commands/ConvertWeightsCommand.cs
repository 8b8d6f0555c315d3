using System.CommandLine;
using DetSharp.Models.Weights;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp convert weights IN OUT [--format auto|pth|safetensors|onnx] [--prefix P]</c>: PyTorch, safetensors or
/// ONNX ResNet weights (or <c>nuget://resnet18-imagenet</c>) to a DetSharp/mmcv <c>.pth</c> checkpoint.
/// </summary>
internal static class ConvertWeightsCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("in") { Description = "Weights: .pth (state dict or mmcv checkpoint), .safetensors, an ONNX ResNet, nuget://resnet18-imagenet, or an http(s):// URL or torchvision:// / open-mmlab:// / mmcls:// name (downloaded once into torch's cache)." };
        var output = new Argument<string>("out") { Description = "The .pth to write (mmcv layout: meta + state_dict)." };
        var format = new Option<string>("--format")
        {
            Description = "Input format (default: from the file name; .pth otherwise).",
            DefaultValueFactory = _ => "auto",
        };
        format.AcceptOnlyFromAmong("auto", "pth", "safetensors", "onnx");
        var prefix = new Option<string?>("--prefix")
        {
            Description = "Prepend this to every key (with a '.'), e.g. 'backbone' so that backbone weights load with load_from into a detector.",
        };
        var cmd = new Command("weights", "PyTorch .pth, safetensors or ONNX ResNet weights to a DetSharp/mmcv .pth checkpoint (ONNX initializers mapped onto ResNet's keys).")
        {
            input, output, format, prefix,
        };
        cmd.SetAction(parse =>
        {
            var fmt = parse.GetValue(format) switch
            {
                "pth" => WeightsFormat.Pth,
                "safetensors" => WeightsFormat.Safetensors,
                "onnx" => WeightsFormat.Onnx,
                _ => WeightsFormat.Auto,
            };
            new IO.ProtectedInputs([parse.GetValue(input)!]).Check(parse.GetValue(output)!, "OUT");
            var r = WeightsConverter.Convert(parse.GetValue(input)!, parse.GetValue(output)!, fmt, parse.GetValue(prefix));
            Console.Out.WriteLine($"wrote {r.Output}: {r.Tensors} tensors, {r.Elements:N0} values (first key {(r.Keys.Count > 0 ? r.Keys[0] : "-")}, last key {(r.Keys.Count > 0 ? r.Keys[^1] : "-")})");
            return 0;
        });
        return cmd;
    }
}
