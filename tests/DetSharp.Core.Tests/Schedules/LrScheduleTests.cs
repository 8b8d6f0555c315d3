using DetSharp.Config;
using DetSharp.Logging;
using DetSharp.Schedules;

namespace DetSharp.Core.Tests.Schedules;

/// <summary>mmcv's LR updater arithmetic, pinned to the reference numbers (schedule_1x: lr 0.02, linear warmup 500 iters, ratio 0.001, steps [8, 11]).</summary>
public class LrScheduleTests
{
    private static ConfigDict Cfg(string text)
    {
        var dict = PyConfigParser.Evaluate("x = " + text + "\n", "cfg.py");
        return dict.Get<ConfigDict>("x");
    }

    /// <summary>Runs the hook's call sequence for a 12-epoch run of <paramref name="epochLength"/> iterations; returns the lr of every iteration.</summary>
    private static List<double> Simulate(LrSchedule schedule, double baseLr, int epochs, int epochLength)
    {
        schedule.BeforeRun([baseLr]);
        double current = baseLr;
        var lrs = new List<double>();
        int iter = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var progress = new TrainProgress(epoch, iter, epochs, epochs * epochLength);
            if (schedule.BeforeTrainEpoch(progress, epochLength) is { } e) current = e[0];
            for (int i = 0; i < epochLength; i++, iter++)
            {
                if (schedule.BeforeTrainIter(progress with { Iter = iter }) is { } it) current = it[0];
                lrs.Add(current);
            }
        }
        return lrs;
    }

    [Fact]
    public void Schedule_1x_linear_warmup_and_steps_match_the_reference()
    {
        var schedule = LrSchedule.FromConfig(Cfg("dict(policy='step', warmup='linear', warmup_iters=500, warmup_ratio=0.001, step=[8, 11])"));
        var lrs = Simulate(schedule, 0.02, 12, 930);

        // Warmup (global iteration i, 0-based): lr = 0.02 * (1 - (1 - i/500) * (1 - 0.001)).
        Assert.Equal(0.02 * 0.001, lrs[0], 12);
        Assert.Equal(0.00197804, lrs[49], 12);   // logged as "iter 50": 1.978e-03
        Assert.Equal(0.00397604, lrs[99], 12);   // logged as "iter 100": 3.976e-03
        Assert.Equal(0.01996004, lrs[499], 12);
        Assert.Equal(0.02, lrs[500], 12);
        Assert.Equal("1.978e-03", PyFormat.Sci(lrs[49], 3));
        Assert.Equal("3.976e-03", PyFormat.Sci(lrs[99], 3));

        // Steps: epochs 1-8 (1-based) 0.02, 9-11 0.002, 12 0.0002.
        Assert.Equal(0.02, lrs[7 * 930 + 929], 12);
        Assert.Equal(0.002, lrs[8 * 930], 12);
        Assert.Equal(0.002, lrs[10 * 930 + 5], 12);
        Assert.Equal(0.0002, lrs[11 * 930], 12);
    }

    [Fact]
    public void Constant_and_exp_warmup_follow_mmcv()
    {
        Assert.Equal(0.02 * 0.1, LrSchedule.WarmupLr(WarmupKind.Constant, 0.1, 10, 500, 0.02), 12);
        Assert.Equal(0.02 * Math.Pow(0.001, 1 - 100 / 500.0), LrSchedule.WarmupLr(WarmupKind.Exp, 0.001, 100, 500, 0.02), 12);
    }

    [Fact]
    public void Warmup_by_epoch_counts_epoch_lengths()
    {
        var schedule = LrSchedule.FromConfig(Cfg("dict(policy='fixed', warmup='linear', warmup_iters=1, warmup_ratio=0.1, warmup_by_epoch=True)"));
        var lrs = Simulate(schedule, 0.01, 2, 10);

        Assert.Equal(10, schedule.WarmupIters);
        Assert.Equal(0.01 * (1 - 0.9), lrs[0], 12);
        Assert.Equal(0.01 * (1 - (1 - 5 / 10.0) * 0.9), lrs[5], 12);
        Assert.Equal(0.01, lrs[10], 12);
    }

    [Fact]
    public void Iteration_based_step_cosine_and_poly()
    {
        var p = new TrainProgress(0, 250, 0, 1000);
        Assert.Equal(0.1 * 0.01, new StepLrPolicy([100, 200], false, 0.1, null, byEpoch: false).GetLr(p, 0.1), 12);
        Assert.Equal(0.1 * 0.01, new StepLrPolicy([100], true, 0.1, null, byEpoch: false).GetLr(p with { Iter = 250 }, 0.1), 12);
        Assert.Equal(1e-3, new StepLrPolicy([100], true, 0.1, 1e-3, byEpoch: false).GetLr(p with { Iter = 900 }, 0.1), 12);
        // cos(pi/4): 0 + 0.5 * 0.1 * (cos(pi * 0.25) + 1)
        Assert.Equal(0.05 * (Math.Cos(Math.PI * 0.25) + 1), new CosineAnnealingLrPolicy(0, null, byEpoch: false).GetLr(p, 0.1), 12);
        Assert.Equal(0.01 + 0.5 * 0.09 * (Math.Cos(Math.PI * 0.25) + 1), new CosineAnnealingLrPolicy(null, 0.1, byEpoch: false).GetLr(p, 0.1), 12);
        Assert.Equal((0.1 - 1e-4) * Math.Pow(0.75, 0.9) + 1e-4, new PolyLrPolicy(0.9, 1e-4, byEpoch: false).GetLr(p, 0.1), 12);
    }

    [Fact]
    public void Iteration_based_schedule_sets_regular_lr_every_iteration()
    {
        var schedule = LrSchedule.FromConfig(Cfg("dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear', warmup_iters=10, warmup_ratio=0.5)"));
        schedule.BeforeRun([0.1]);
        var p = new TrainProgress(0, 0, 0, 100);
        Assert.Null(schedule.BeforeTrainEpoch(p, 100));
        Assert.Equal(0.1 * 0.5, schedule.BeforeTrainIter(p)![0], 12);
        Assert.Equal(0.1 * (1 - 50 / 100.0), schedule.BeforeTrainIter(p with { Iter = 50 })![0], 12);
    }

    [Fact]
    public void Bad_settings_are_named()
    {
        Assert.Contains("'Exponential' is not supported", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='Exponential')"))).Message);
        Assert.Contains("warmup_iters must be a positive integer", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='step', step=[8], warmup='linear', warmup_iters=0)"))).Message);
        Assert.Contains("unexpected key 'stpe'", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='step', step=[8], stpe=3)"))).Message);
        Assert.Contains("exactly one of min_lr and min_lr_ratio", Assert.Throws<DetSharpException>(() => LrSchedule.FromConfig(Cfg("dict(policy='CosineAnnealing')"))).Message);
    }
}
