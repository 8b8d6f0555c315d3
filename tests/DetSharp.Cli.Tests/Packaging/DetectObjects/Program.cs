using DetSharp.Apis;

// Usage: dotnet run -- CONFIG IMAGE [CHECKPOINT]; without a checkpoint the model keeps its initial weights.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: DetectObjects CONFIG IMAGE [CHECKPOINT]");
    return 2;
}
using var detector = Detector.FromConfig(args[0], checkpointPath: args.Length > 2 ? args[2] : null);
var result = detector.Infer(args[1]);
Console.WriteLine($"{result.Source}: {result.Width}x{result.Height}, {result.Detections.Count} detections");
foreach (var d in result.Detections.OrderByDescending(d => d.Score).Take(5))
    Console.WriteLine($"{d.ClassName} {d.Score:F3} [{d.X1:F1}, {d.Y1:F1}, {d.X2:F1}, {d.Y2:F1}] mask: {d.Mask is not null}");
return 0;
