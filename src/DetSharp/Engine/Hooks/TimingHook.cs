using System.Diagnostics;
using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>One training iteration as <see cref="TimingHook"/> saw it: seconds, of which waiting for the batch, total loss, lr.</summary>
public sealed record IterationTiming(int Iter, double Time, double DataTime, double Loss, double Lr);

/// <summary>
/// Keeps every training iteration's <c>time</c> and <c>data_time</c> (as mmcv's <see cref="IterTimerHook"/> measures them:
/// from the end of the previous iteration, or the start of the epoch, to the end of this one, and to the moment its batch
/// arrived), its total loss and first-group lr; with <paramref name="stopAfter"/> it stops the runner after that many
/// iterations. <c>detsharp benchmark train</c> times the real runner with it. Register it with the lowest priority, so that
/// an iteration ends after the optimizer step and the loggers.
/// </summary>
public sealed class TimingHook(int? stopAfter = null, Action<IterationTiming>? onIteration = null) : Hook
{
    private long _start;
    private double _dataTime;

    public List<IterationTiming> Iterations { get; } = [];

    public override HookPriority DefaultPriority => HookPriority.Lowest;

    public override void BeforeEpoch(BaseRunner runner) => _start = Stopwatch.GetTimestamp();

    public override void BeforeTrainIter(BaseRunner runner) => _dataTime = Stopwatch.GetElapsedTime(_start).TotalSeconds;

    public override void AfterTrainIter(BaseRunner runner)
    {
        var outputs = runner.Outputs ?? throw new InvalidOperationException("TimingHook: the iteration has no outputs.");
        double loss = outputs.LogVars.FirstOrDefault(kv => kv.Key == "loss", outputs.LogVars[^1]).Value;
        var timing = new IterationTiming(runner.Iter, Stopwatch.GetElapsedTime(_start).TotalSeconds, _dataTime, loss,
            runner.Optimizer is null ? double.NaN : runner.CurrentLr()[0]);
        Iterations.Add(timing);
        onIteration?.Invoke(timing);
        _start = Stopwatch.GetTimestamp();
        if (stopAfter is { } n && Iterations.Count >= n) runner.Stop();
    }
}
