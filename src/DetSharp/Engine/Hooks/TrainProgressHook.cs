using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>One training iteration done: the 1-based epoch, the iterations done of <see cref="MaxIters"/>, its logged losses.</summary>
public sealed record TrainingProgress(int Epoch, int Iter, int MaxIters, IReadOnlyList<KeyValuePair<string, double>> Losses);

/// <summary>
/// Reports every training iteration to an <see cref="IProgress{T}"/> (a progress bar or a UI of the application), after the
/// optimizer step. Not in the HOOKS registry: the API adds it when a progress receiver is given.
/// <para>Thread safety: reports from the training thread; <see cref="Progress{T}"/> posts them to its synchronization context.</para>
/// </summary>
public sealed class TrainProgressHook(IProgress<TrainingProgress> progress) : Hook
{
    public override HookPriority DefaultPriority => HookPriority.VeryLow;

    public override void AfterTrainIter(BaseRunner runner) =>
        progress.Report(new TrainingProgress(runner.Epoch + 1, runner.Iter + 1, runner.MaxIters, runner.Outputs?.LogVars ?? []));
}
