using DetSharp.Config;
using DetSharp.Engine.Runners;
using DetSharp.Schedules;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>LrUpdaterHook</c> family (<c>lr_config</c>): sets every parameter group's lr from
/// <see cref="LrSchedule"/> before each epoch and iteration. Base lrs are the groups' <c>initial_lr</c>, which a
/// resumed optimizer brings back, so the schedule continues exactly.
/// </summary>
public sealed class LrUpdaterHook(LrSchedule schedule) : Hook
{
    public LrSchedule Schedule { get; } = schedule;

    public override HookPriority DefaultPriority => HookPriority.VeryHigh;

    /// <summary>
    /// The schedule an <c>lr_config</c> describes (null without one); under an IterBasedRunner it counts in
    /// iterations unless the config says <c>by_epoch</c>, as mmcv's register_lr_hook does.
    /// </summary>
    public static LrSchedule? ScheduleFromConfig(ConfigDict? lrConfig, bool iterBased)
    {
        if (lrConfig is null) return null;
        var cfg = lrConfig.Clone();
        if (iterBased && !cfg.ContainsKey("by_epoch")) cfg["by_epoch"] = false;
        return LrSchedule.FromConfig(cfg);
    }

    public override void BeforeRun(BaseRunner runner) =>
        Schedule.BeforeRun(Groups(runner).Select(g => g.InitialLearningRate).ToList());

    public override void BeforeTrainEpoch(BaseRunner runner)
    {
        var lrs = Schedule.BeforeTrainEpoch(Progress(runner), runner.DataLoader?.Count ?? 0);
        if (lrs is not null) Set(runner, lrs);
    }

    public override void BeforeTrainIter(BaseRunner runner)
    {
        var lrs = Schedule.BeforeTrainIter(Progress(runner));
        if (lrs is not null) Set(runner, lrs);
    }

    private static TrainProgress Progress(BaseRunner runner) => new(runner.Epoch, runner.Iter, runner.MaxEpochs, runner.MaxIters);

    private static List<TorchSharp.torch.optim.ILearningRateController> Groups(BaseRunner runner) =>
        runner.Optimizer?.ParamGroups.ToList() ?? throw new InvalidOperationException("LrUpdaterHook needs an optimizer.");

    private static void Set(BaseRunner runner, IReadOnlyList<double> lrs)
    {
        var groups = Groups(runner);
        for (int i = 0; i < groups.Count; i++) groups[i].LearningRate = lrs[i];
    }
}
