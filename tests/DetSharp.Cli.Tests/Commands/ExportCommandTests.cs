using System.Text.Json;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// <c>detsharp export onnx</c> then <c>detsharp infer --backend onnxruntime</c> on the demo's RetinaNet (ResNet-18 with
/// CNTK padding, 64-channel FPN and head; random weights, classification biases spread so that there are detections):
/// the ONNX Runtime results.json equals the libtorch one (same detections, boxes within 1e-2 px, scores within 1e-4) on
/// two synthetic images, exported for a fixed input size, with <c>--dynamic</c> and without post-processing
/// (<c>--skip-postprocess</c>: raw head maps decoded by the runtime); <c>--shape</c> with <c>--dynamic</c> and a
/// CUDA device without ONNX Runtime's GPU package are refused, saying why.
/// </summary>
public sealed class ExportCommandTests
{
    private const string Config = "configs/demo/retinanet_r18_fpn64_imagenet_demo.py";

    [Fact]
    public void Exported_retinanet_infers_in_onnx_runtime_as_in_libtorch()
    {
        string dir = Directory.CreateTempSubdirectory("detsharp-export-").FullName;
        try
        {
            var shapes = HostileFixtures.MakeShapes(dir, train: 1, val: 2);
            string checkpoint = RandomRetinaNet(Path.Combine(dir, "retinanet.pth"));
            string onnx = Path.Combine(dir, "retinanet.onnx");
            var export = CliRunner.RunWithTimeout(300, "export", "onnx", Config, checkpoint, "-o", onnx);
            Assert.True(export.ExitCode == 0, export.Stderr);
            Assert.Contains("input 1 x 3 x 192 x 256", export.Stdout, StringComparison.Ordinal);

            string images = Path.Combine(shapes.ValDir, "*.jpg");
            var libtorch = CliRunner.RunWithTimeout(300, "infer", Config, checkpoint, images, "--out-dir", Path.Combine(dir, "libtorch"), "--json");
            Assert.True(libtorch.ExitCode == 0, libtorch.Stderr);
            var ort = CliRunner.RunWithTimeout(300, "infer", Config, onnx, images, "--out-dir", Path.Combine(dir, "ort"), "--json", "--backend", "onnxruntime");
            Assert.True(ort.ExitCode == 0, ort.Stderr);

            var expected = Results(Path.Combine(dir, "libtorch", "results.json"));
            AssertSameResults(expected, Results(Path.Combine(dir, "ort", "results.json")));

            // --dynamic: any input size, each image padded only to the pad divisor; the same results.
            string dynamicOnnx = Path.Combine(dir, "retinanet_dynamic.onnx");
            var dynamic = CliRunner.RunWithTimeout(300, "export", "onnx", Config, checkpoint, "-o", dynamicOnnx, "--dynamic");
            Assert.True(dynamic.ExitCode == 0, dynamic.Stderr);
            Assert.Contains("input 1 x 3 x height x width (dynamic)", dynamic.Stdout, StringComparison.Ordinal);
            var ortDynamic = CliRunner.RunWithTimeout(300, "infer", Config, dynamicOnnx, images, "--out-dir", Path.Combine(dir, "ort_dynamic"), "--json",
                "--backend", "onnxruntime");
            Assert.True(ortDynamic.ExitCode == 0, ortDynamic.Stderr);
            AssertSameResults(expected, Results(Path.Combine(dir, "ort_dynamic", "results.json")));

            // --skip-postprocess (here by the alias the issue named it, --simplify-postprocess): the graph ends at the head's
            // raw maps, which the runtime decodes with the config's test_cfg; the same results.
            string rawOnnx = Path.Combine(dir, "retinanet_raw.onnx");
            var raw = CliRunner.RunWithTimeout(300, "export", "onnx", Config, checkpoint, "-o", rawOnnx, "--dynamic", "--simplify-postprocess");
            Assert.True(raw.ExitCode == 0, raw.Stderr);
            Assert.Contains("no post-processing in the graph", raw.Stdout, StringComparison.Ordinal);
            var ortRaw = CliRunner.RunWithTimeout(300, "infer", Config, rawOnnx, images, "--out-dir", Path.Combine(dir, "ort_raw"), "--json",
                "--backend", "onnxruntime");
            Assert.True(ortRaw.ExitCode == 0, ortRaw.Stderr);
            AssertSameResults(expected, Results(Path.Combine(dir, "ort_raw", "results.json")));

            // No CUDA provider in the CPU package: one message saying which package to reference.
            var cuda = CliRunner.Run("infer", Config, onnx, images, "--out-dir", Path.Combine(dir, "cuda"), "--backend", "onnxruntime", "--device", "cuda");
            Assert.NotEqual(0, cuda.ExitCode);
            Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", cuda.Stderr, StringComparison.Ordinal);

            var both = CliRunner.Run("export", "onnx", Config, checkpoint, "-o", onnx, "--dynamic", "--shape", "192", "256");
            Assert.NotEqual(0, both.ExitCode);
            Assert.Contains("--shape and --dynamic exclude each other", both.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The same set: each libtorch detection has its own ONNX Runtime one (detections of equal score may come in either
    /// order), boxes within 1e-2 px, scores within 1e-4.
    /// </summary>
    private static void AssertSameResults(List<Result> expected, List<Result> actual)
    {
        Assert.True(expected.Count > 10, $"only {expected.Count} detections");
        Assert.Equal(expected.Count, actual.Count);
        var unused = actual.ToList();
        foreach (var e in expected)
        {
            var match = unused.FirstOrDefault(a => (a.Image, a.Category) == (e.Image, e.Category) && Math.Abs(a.Score - e.Score) <= 1e-4
                                                   && a.Box.Zip(e.Box, (p, q) => Math.Abs(p - q)).Max() <= 1e-2);
            Assert.True(match is not null, $"no ONNX Runtime detection matches image {e.Image} class {e.Category} score {e.Score} box [{string.Join(", ", e.Box)}]");
            unused.Remove(match);
        }
    }

    private sealed record Result(long Image, long Category, double[] Box, double Score);

    private static List<Result> Results(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return [.. doc.RootElement.EnumerateArray().Select(e => new Result(e.GetProperty("image_id").GetInt64(), e.GetProperty("category_id").GetInt64(),
            [.. e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble())], e.GetProperty("score").GetDouble()))];
    }

    /// <summary>Random weights of the demo RetinaNet (no ImageNet download), classification biases spread around 0.</summary>
    private static string RandomRetinaNet(string path)
    {
        ComponentRegistration.EnsureRegistered();
        manual_seed(5);
        var cfg = ConfigTools.Load(Path.Combine(RepoPaths.Root, Config), ["model.backbone.init_cfg=None"]);
        using var model = Registries.Models.Build<BaseDetector>(cfg.Get<ConfigDict>("model"));
        using (no_grad())
        {
            var bias = model.state_dict()["bbox_head.retina_cls.bias"];
            bias.copy_(randn(bias.shape));
        }
        Checkpoint.Save(path, model, null, [new("CLASSES", new PyTuple([.. DetSharp.Cli.Demo.SyntheticShapes.Classes]))]);
        return path;
    }
}
