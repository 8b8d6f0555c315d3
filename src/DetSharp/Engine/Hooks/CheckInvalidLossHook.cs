using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>CheckInvalidLossHook</c> (SSD's configs list it): every <c>interval</c> training iterations the total
/// loss must be finite. DetSharp's runner already checks every loss term after every forward pass, before the update
/// (<see cref="BaseRunner"/>), so this hook only repeats that check at its interval; it is here so that configs naming it run.
/// </summary>
[Register(Registries.HooksName, "CheckInvalidLossHook")]
public sealed class CheckInvalidLossHook(int interval = 50) : Hook
{
    public int Interval { get; } = interval > 0 ? interval : throw new DetSharpException($"CheckInvalidLossHook: interval must be positive, got {interval}.");

    public override void AfterTrainIter(BaseRunner runner)
    {
        if (!EveryNIters(runner, Interval) || runner.Outputs is not { } outputs) return;
        double loss = outputs.Loss.item<float>();
        if (!double.IsFinite(loss))
            throw new TrainingDivergedException($"loss became infinite or NaN at iteration {runner.Iter + 1} (CheckInvalidLossHook).");
    }
}
