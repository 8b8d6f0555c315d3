using DetSharp.Config;
using DetSharp.Engine.Runners;
using DetSharp.Registry;
using DetSharp.Schedules;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>LrUpdaterHook</c> family (<c>lr_config</c>): sets every parameter group's lr from
/// <see cref="LrSchedule"/> before each epoch and iteration. Base lrs are the groups' <c>initial_lr</c>, which a
/// resumed optimizer brings back, so the schedule continues exactly. <c>lr_config=dict(policy='step', ...)</c> is built from
/// the HOOKS registry as <c>StepLrUpdaterHook</c> (mmcv's naming: policy + <c>LrUpdaterHook</c>), see
/// <see cref="BaseRunner.RegisterLrHook"/>.
/// </summary>
public class LrUpdaterHook(LrSchedule schedule) : Hook
{
    public LrSchedule Schedule { get; } = schedule;

    public override HookPriority DefaultPriority => HookPriority.VeryHigh;

    /// <summary>The schedule of an <c>lr_config</c> whose <c>policy</c> key the registry name stood for.</summary>
    protected static LrSchedule FromPolicy(string policy, ConfigDict args)
    {
        var cfg = args.Clone();
        cfg["policy"] = policy;
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

    private static TrainProgress Progress(BaseRunner runner) =>
        new(runner.Epoch, runner.Iter, runner.MaxEpochs, runner.MaxIters, runner.DataLoader?.Count ?? 0);

    private static List<TorchSharp.torch.optim.ILearningRateController> Groups(BaseRunner runner) =>
        runner.Optimizer?.ParamGroups.ToList() ?? throw new InvalidOperationException("LrUpdaterHook needs an optimizer.");

    private static void Set(BaseRunner runner, IReadOnlyList<double> lrs)
    {
        var groups = Groups(runner);
        for (int i = 0; i < groups.Count; i++) groups[i].LearningRate = lrs[i];
    }
}

/// <summary>mmcv's <c>StepLrUpdaterHook</c> (<c>policy='step'</c>: <c>step</c>, <c>gamma</c>, <c>min_lr</c>).</summary>
[Register(Registries.HooksName, "StepLrUpdaterHook")]
public sealed class StepLrUpdaterHook([ExtraArguments] ConfigDict args) : LrUpdaterHook(FromPolicy("step", args));

/// <summary>mmcv's <c>CosineAnnealingLrUpdaterHook</c> (<c>min_lr</c> or <c>min_lr_ratio</c>).</summary>
[Register(Registries.HooksName, "CosineAnnealingLrUpdaterHook")]
public sealed class CosineAnnealingLrUpdaterHook([ExtraArguments] ConfigDict args) : LrUpdaterHook(FromPolicy("CosineAnnealing", args));

/// <summary>mmcv's <c>PolyLrUpdaterHook</c> (<c>power</c>, <c>min_lr</c>).</summary>
[Register(Registries.HooksName, "PolyLrUpdaterHook")]
public sealed class PolyLrUpdaterHook([ExtraArguments] ConfigDict args) : LrUpdaterHook(FromPolicy("poly", args));

/// <summary>mmcv's <c>FixedLrUpdaterHook</c> (the base lr, after any warm-up).</summary>
[Register(Registries.HooksName, "FixedLrUpdaterHook")]
public sealed class FixedLrUpdaterHook([ExtraArguments] ConfigDict args) : LrUpdaterHook(FromPolicy("fixed", args));

/// <summary>
/// MMDetection's <c>YOLOXLrUpdaterHook</c> (<c>policy='YOLOX'</c>: <c>num_last_epochs</c>, <c>min_lr</c> or
/// <c>min_lr_ratio</c>): its own quadratic warm-up, cosine, then flat for the last epochs (<see cref="YOLOXLrPolicy"/>).
/// </summary>
[Register(Registries.HooksName, "YOLOXLrUpdaterHook")]
public sealed class YOLOXLrUpdaterHook([ExtraArguments] ConfigDict args) : LrUpdaterHook(FromPolicy("YOLOX", args));
