using System.Text.Json;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// <c>detsharp benchmark train|infer --profile</c> on the slim balloon Mask R-CNN: the table names every step of an
/// iteration, and its sections (own time each) plus the rest add up to the iteration time. No timing is asserted beyond
/// that consistency.
/// </summary>
public class BenchmarkCommandTests
{
    private const string Config = "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py";
    private const string BalloonTrain = "datasets/balloon/train";
    private const string BalloonVal = "datasets/balloon/val";

    [SharedFact(BalloonTrain)]
    public void Train_profile_covers_the_steps_of_an_iteration_and_adds_up_to_its_time()
    {
        string train = SharedData.FullPath(BalloonTrain);
        var result = CliRunner.RunWithTimeout(300, "benchmark", "train", Config, "--iters", "2", "--profile", "--json", "--cfg-options",
            $"data.train.ann_file={Path.Combine(train, "annotation_coco.json")}", $"data.train.img_prefix={train}/", "data.workers_per_gpu=0");

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        var rows = AssertConsistent(root.GetProperty("Profile"), iterations: 2, msPerIter: root.GetProperty("SecondsPerIter").GetDouble() * 1000);
        foreach (var section in new[]
                 {
                     "data", "backbone", "neck", "dense head: forward", "dense head: anchors", "dense head: targets", "dense head: loss",
                     "dense head: boxes (decode, NMS)", "roi: assign + sample", "roi: extraction (RoIAlign)", "bbox head: forward", "bbox head: targets",
                     "bbox head: loss", "mask head: forward", "mask head: targets", "mask head: loss", "losses: sum + log", "native heap: trim", "backward",
                     "optimizer: zero_grad, clip, step", "gc: finalizer gate",
                 })
            Assert.True(rows.ContainsKey(section), $"no '{section}' row in the profile: {string.Join(", ", rows.Keys)}");
        // One forward, one backward per iteration; the bbox and mask branches each pool their RoIs once.
        Assert.Equal(1.0, rows["backbone"].Calls);
        Assert.Equal(1.0, rows["backward"].Calls);
        Assert.Equal(1.0, rows["native heap: trim"].Calls); // the forward's freed pages returned before backward
        Assert.Equal(2.0, rows["roi: extraction (RoIAlign)"].Calls);
        Assert.False(rows.ContainsKey("mask head: paste + RLE")); // a test-time step
    }

    [SharedFact(BalloonVal)]
    public void Infer_profile_covers_the_test_time_steps_and_adds_up_to_the_time_per_image()
    {
        string val = SharedData.FullPath(BalloonVal);
        // Random weights with score_thr 0: every image keeps max_per_img detections, so the mask branch runs.
        var result = CliRunner.RunWithTimeout(300, "benchmark", "infer", Config, "--images", "2", "--warmup", "1", "--profile", "--json",
            "--cfg-options", "model.test_cfg.rcnn.score_thr=0.0", $"data.test.ann_file={Path.Combine(val, "annotation_coco.json")}", $"data.test.img_prefix={val}/");

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        var rows = AssertConsistent(root.GetProperty("Profile"), iterations: 2, msPerIter: root.GetProperty("MsPerImage").GetDouble());
        foreach (var section in new[]
                 {
                     "data", "backbone", "neck", "dense head: forward", "dense head: anchors", "dense head: boxes (decode, NMS)",
                     "roi: extraction (RoIAlign)", "bbox head: forward", "bbox head: boxes (decode, NMS)", "mask head: forward", "mask head: paste + RLE",
                     "gc: finalizer gate",
                 })
            Assert.True(rows.ContainsKey(section), $"no '{section}' row in the profile: {string.Join(", ", rows.Keys)}");
        Assert.False(rows.ContainsKey("backward"));
        Assert.Equal(1.0, rows["backbone"].Calls);
    }

    [SharedFact(BalloonVal)]
    public void Without_profile_there_is_no_profile()
    {
        string val = SharedData.FullPath(BalloonVal);
        var result = CliRunner.RunWithTimeout(300, "benchmark", "infer", Config, "--images", "1", "--warmup", "0",
            "--cfg-options", $"data.test.ann_file={Path.Combine(val, "annotation_coco.json")}", $"data.test.img_prefix={val}/");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.DoesNotContain("profile over", result.Stdout);
        Assert.Contains("1 images:", result.Stdout);
    }

    [SharedFact(BalloonVal, "fixtures/mmdet/parity/mask_rcnn_slim.pth")]
    public void Infer_compare_onnx_times_libtorch_and_onnx_runtime_on_the_same_images_with_the_ort_threads()
    {
        string val = SharedData.FullPath(BalloonVal), ckpt = SharedData.FullPath("fixtures/mmdet/parity/mask_rcnn_slim.pth");
        string tmp = Directory.CreateTempSubdirectory("detsharp-bench-onnx").FullName;
        try
        {
            // Random weights with score_thr 0: both backends keep max_per_img (100) detections on every image.
            string[] options = ["--cfg-options", "model.test_cfg.rcnn.score_thr=0.0", $"data.test.ann_file={Path.Combine(val, "annotation_coco.json")}", $"data.test.img_prefix={val}/"];
            string onnx = Path.Combine(tmp, "mask_rcnn.onnx");
            var export = CliRunner.RunWithTimeout(300, ["export", "onnx", Config, ckpt, "-o", onnx, "--shape", "384", "384", .. options]);
            Assert.True(export.ExitCode == 0, export.Stderr);

            var result = CliRunner.RunWithTimeout(300, ["benchmark", "infer", Config, ckpt, "--compare-onnx", onnx, "--ort-threads", "1",
                "--images", "2", "--warmup", "1", "--json", .. options]);
            Assert.True(result.ExitCode == 0, result.Stderr);
            using var json = JsonDocument.Parse(result.Stdout);
            var libtorch = json.RootElement.GetProperty("Libtorch");
            var ort = json.RootElement.GetProperty("OnnxRuntime");
            Assert.Equal("libtorch", libtorch.GetProperty("Backend").GetString());
            Assert.Equal("onnxruntime", ort.GetProperty("Backend").GetString());
            Assert.Equal(JsonValueKind.Null, libtorch.GetProperty("OrtIntraOpThreads").ValueKind);
            Assert.Equal(1, ort.GetProperty("OrtIntraOpThreads").GetInt32());
            Assert.Equal(1, ort.GetProperty("OrtInterOpThreads").GetInt32());
            foreach (var side in new[] { libtorch, ort })
            {
                Assert.Equal(2, side.GetProperty("Images").GetInt32());
                Assert.Equal(100.0, side.GetProperty("MeanDetections").GetDouble());
                Assert.True(side.GetProperty("MsPerImage").GetDouble() > 0);
            }
            Assert.Equal(ort.GetProperty("MsPerImage").GetDouble() / libtorch.GetProperty("MsPerImage").GetDouble(),
                json.RootElement.GetProperty("OnnxRuntimeOverLibtorch").GetDouble(), 9);

            // The text form names both backends, ONNX Runtime's threads and the ratio.
            var text = CliRunner.RunWithTimeout(300, ["benchmark", "infer", Config, ckpt, "--compare-onnx", onnx, "--ort-threads", "1",
                "--images", "1", "--warmup", "0", .. options]);
            Assert.True(text.ExitCode == 0, text.Stderr);
            Assert.Contains("libtorch: 1 images:", text.Stdout, StringComparison.Ordinal);
            Assert.Contains("onnxruntime: 1 images:", text.Stdout, StringComparison.Ordinal);
            Assert.Contains("ONNX Runtime intra-op threads 1, inter-op 1", text.Stdout, StringComparison.Ordinal);
            Assert.Contains("onnxruntime / libtorch time per image:", text.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    /// <summary>
    /// The profile's rows by section: non-negative own times that, with the rest, add up to the iteration time the benchmark
    /// reports; the sections alone stay within it.
    /// </summary>
    private static Dictionary<string, (double Ms, double Calls)> AssertConsistent(JsonElement profile, int iterations, double msPerIter)
    {
        Assert.Equal(iterations, profile.GetProperty("Iterations").GetInt32());
        Assert.Equal(msPerIter, profile.GetProperty("MsPerIter").GetDouble(), 6);
        var rows = profile.GetProperty("Rows").EnumerateArray()
            .ToDictionary(r => r.GetProperty("Section").GetString()!, r => (Ms: r.GetProperty("MsPerIter").GetDouble(), Calls: r.GetProperty("CallsPerIter").GetDouble()));
        const string other = "other (managed overhead, hooks)";
        Assert.True(rows.ContainsKey(other));
        double sections = rows.Where(r => r.Key != other).Sum(r => r.Value.Ms);
        foreach (var (name, (ms, calls)) in rows)
        {
            Assert.True(ms >= 0, $"'{name}': {ms} ms");
            if (name != other) Assert.True(calls > 0, $"'{name}': {calls} calls");
        }
        Assert.True(sections <= msPerIter * (1 + 1e-9), $"sections {sections} ms > iteration {msPerIter} ms");
        Assert.Equal(msPerIter, sections + rows[other].Ms, 6);
        Assert.InRange(profile.GetProperty("GcPauseMsPerIter").GetDouble(), 0, msPerIter);
        return rows;
    }
}
