using System.Globalization;
using DetSharp.Bench;
using DetSharp.Benchmarks;
using TorchSharp;

// Usage: DetSharp.Bench ops [--reps N] [--warmup N] [--filter TEXT]
//        DetSharp.Bench coco-eval [seed]
//        DetSharp.Bench pipeline [N]   (the seed's Cityscapes training pipeline, bench/README.md)
//        DetSharp.Bench compare-results EXPECTED.json ACTUAL.json   (two `detsharp test --out` files; bench/onnx_parity.sh)
//        DetSharp.Bench onnx-inputs MODEL.onnx OUT_DIR IMAGE...   (raw graph inputs + manifest for bench/onnx_ep_compare)
const string Usage = "usage: DetSharp.Bench ops [--reps N] [--warmup N] [--filter TEXT] | coco-eval [seed] | pipeline [N] | compare-results EXPECTED.json ACTUAL.json"
                     + " | onnx-inputs MODEL.onnx OUT_DIR IMAGE...";
if (args.Length == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

if (args[0] == "pipeline")
{
    PipelineBench.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16);
    return 0;
}

if (args[0] == "compare-results")
{
    if (args.Length != 3)
    {
        Console.Error.WriteLine(Usage);
        return 2;
    }
    try
    {
        // Exit 0 when the two backends agree (same kept sets, boxes 1e-2 px, scores 1e-4, mask IoU >= 0.99), else 1.
        var comparison = DetSharp.Apis.ResultsComparison.Compare(args[1], args[2]);
        comparison.Write(Console.Out);
        return comparison.Agree ? 0 : 1;
    }
    catch (DetSharp.DetSharpException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}

if (args[0] == "onnx-inputs")
{
    if (args.Length < 4)
    {
        Console.Error.WriteLine(Usage);
        return 2;
    }
    try
    {
        OnnxInputs.Write(args[1], args[2], args[3..]);
        return 0;
    }
    catch (DetSharp.DetSharpException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}

if (args[0] == "coco-eval")
{
    CocoEvalBench.RunAll(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 0);
    return 0;
}

if (args[0] != "ops")
{
    Console.Error.WriteLine(Usage);
    return 2;
}

int reps = 5, warmup = 1;
string? filter = null;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--warmup": warmup = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--filter": filter = args[++i]; break;
        default:
            Console.Error.WriteLine($"unknown option '{args[i]}'");
            return 2;
    }
}

// TorchVision.NET's nms and box_iou are the tensor-op baselines.
var baselines = new OpsBaselines(
    "TorchVision.NET nms",
    (boxes, scores, thr) => torchvision.ops.nms(boxes, scores, thr),
    "TorchVision.NET box_iou",
    (a, b) => torchvision.ops.box_iou(a, b));
OpsBenchmark.Run(Console.Out, new OpsBenchmarkOptions(reps, warmup, filter, baselines));
return 0;
