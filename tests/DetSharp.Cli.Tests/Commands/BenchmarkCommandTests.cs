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
                     "bbox head: loss", "mask head: forward", "mask head: targets", "mask head: loss", "losses: sum + log", "backward",
                     "optimizer: zero_grad, clip, step", "gc: finalizer gate",
                 })
            Assert.True(rows.ContainsKey(section), $"no '{section}' row in the profile: {string.Join(", ", rows.Keys)}");
        // One forward, one backward per iteration; the bbox and mask branches each pool their RoIs once.
        Assert.Equal(1.0, rows["backbone"].Calls);
        Assert.Equal(1.0, rows["backward"].Calls);
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
