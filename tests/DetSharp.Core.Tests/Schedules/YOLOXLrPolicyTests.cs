using System.Text.Json;
using DetSharp.Config;
using DetSharp.Schedules;
using DetSharp.TestSupport;

namespace DetSharp.Core.Tests.Schedules;

/// <summary>
/// <c>policy='YOLOX'</c> against MMDetection 2.28.2's own <c>YOLOXLrUpdaterHook</c>, run on mmcv's call sequence by
/// <c>tools/oracle/yolox_hooks.py</c> (<c>tests/fixtures/mmdet-2.28/yolox_hooks/</c>): two parameter groups (lr 0.01 and 0.02).
/// </summary>
public class YOLOXLrPolicyTests
{
    private static ConfigDict Cfg(string text) => PyConfigParser.Evaluate("x = " + text + "\n", "cfg.py").Get<ConfigDict>("x");

    /// <summary>EpochBasedRunner's calls (before_run; per epoch before_train_epoch; per iteration before_train_iter): every iteration's lrs.</summary>
    private static List<double[]> Simulate(LrSchedule schedule, double[] baseLrs, int epochs, int epochLength)
    {
        schedule.BeforeRun(baseLrs);
        var current = baseLrs.ToArray();
        var lrs = new List<double[]>();
        int iter = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var progress = new TrainProgress(epoch, iter, epochs, epochs * epochLength, epochLength);
            if (schedule.BeforeTrainEpoch(progress, epochLength) is { } e) current = e;
            for (int i = 0; i < epochLength; i++, iter++)
            {
                if (schedule.BeforeTrainIter(progress with { Iter = iter }) is { } it) current = it;
                lrs.Add(current);
            }
        }
        return lrs;
    }

    private static (int[] Iters, double[][] Lrs) Reference(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "yolox_hooks", "yolox_hooks.json")));
        var root = doc.RootElement;
        int[] iters = [.. root.GetProperty(name + ".iters").EnumerateArray().Select(e => e.GetInt32())];
        double[][] lrs = [.. root.GetProperty(name + ".lr").EnumerateArray().Select(g => g.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
        return (iters, lrs);
    }

    private static void AssertMatches(string name, List<double[]> lrs)
    {
        var (iters, expected) = Reference(name);
        Assert.NotEmpty(iters);
        for (int k = 0; k < iters.Length; k++)
        {
            for (int g = 0; g < expected[k].Length; g++)
                Assert.True(Math.Abs(lrs[iters[k]][g] - expected[k][g]) <= 1e-12 * Math.Max(1, expected[k][g]),
                    $"{name}: iteration {iters[k]}, group {g}: {lrs[iters[k]][g]} vs MMDetection's {expected[k][g]}");
        }
    }

    [Fact]
    public void Yolox_s_schedule_matches_mmdetection_at_chosen_iterations()
    {
        // configs/yolox/yolox_s_8x8_300e_coco.py's lr_config on 300 epochs of 100 iterations.
        var schedule = LrSchedule.FromConfig(Cfg(
            "dict(policy='YOLOX', warmup='exp', by_epoch=False, warmup_by_epoch=True, warmup_ratio=1, warmup_iters=5, num_last_epochs=15, min_lr_ratio=0.05)"));
        var lrs = Simulate(schedule, [0.01, 0.02], 300, 100);

        AssertMatches("lr_yolox_s", lrs);
        // By hand: warm-up 0.01·((i + 1) / 500)², the cosine from iteration 500 (p = i + 1) over 30000 − 500 − 1500 steps,
        // flat at 0.05·0.01 from p = 28500.
        Assert.Equal(0.01 * Math.Pow(1 / 500.0, 2), lrs[0][0], 15);
        Assert.Equal(0.01 * Math.Pow(251 / 500.0, 2), lrs[250][0], 15);
        Assert.Equal(0.0005 + 0.5 * 0.0095 * (Math.Cos(Math.PI * (15001 - 500) / 28000.0) + 1), lrs[15000][0], 15);
        Assert.Equal(0.0005, lrs[28499][0], 15);
        Assert.Equal(0.001, lrs[29999][1], 15);
    }

    [Fact]
    public void Short_schedule_with_min_lr_matches_mmdetection_at_every_iteration()
    {
        var schedule = LrSchedule.FromConfig(Cfg(
            "dict(policy='YOLOX', warmup='exp', by_epoch=False, warmup_by_epoch=True, warmup_ratio=0.5, warmup_iters=2, num_last_epochs=3, min_lr=0.001)"));
        var lrs = Simulate(schedule, [0.01, 0.02], 12, 5);

        Assert.Equal(10, schedule.WarmupIters);
        AssertMatches("lr_short", lrs);
    }

    [Fact]
    public void Yolox_policy_settings_are_checked()
    {
        Assert.Contains("needs 'num_last_epochs'", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='YOLOX', min_lr_ratio=0.05)"))).Message);
        Assert.Contains("exactly one of min_lr and min_lr_ratio", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='YOLOX', num_last_epochs=15)"))).Message);
        Assert.Contains("unexpected key 'gamma'", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='YOLOX', num_last_epochs=15, min_lr=0, gamma=0.1)"))).Message);
    }
}
