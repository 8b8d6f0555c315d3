using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// Ends a run at the next iteration boundary once its <see cref="CancellationToken"/> is cancelled: after every other hook
/// has seen the iteration (the optimizer step, logging and checkpointing included) it calls <see cref="BaseRunner.Stop"/>;
/// <c>TrainDetector.Train</c> then writes the resumable checkpoint (<see cref="BaseRunner.SaveResumeCheckpoint"/>). Not in
/// the HOOKS registry: the API adds it to a cancellable run.
/// <para>Thread safety: the token may be cancelled from any thread; the hook itself runs on the training thread.</para>
/// </summary>
public sealed class CancellationHook(CancellationToken token) : Hook
{
    public override HookPriority DefaultPriority => HookPriority.Lowest;

    public override void AfterTrainIter(BaseRunner runner)
    {
        if (token.IsCancellationRequested) runner.Stop();
    }
}
