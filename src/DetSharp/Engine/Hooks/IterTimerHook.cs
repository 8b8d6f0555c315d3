using System.Diagnostics;
using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>mmcv's <c>IterTimerHook</c>: logs <c>data_time</c> (waiting for the batch) and <c>time</c> (the whole iteration).</summary>
[Register(Registries.HooksName, "IterTimerHook")]
public sealed class IterTimerHook : Hook
{
    private long _t;

    public override HookPriority DefaultPriority => HookPriority.Low;

    public override void BeforeEpoch(BaseRunner runner) => _t = Stopwatch.GetTimestamp();

    public override void BeforeIter(BaseRunner runner) =>
        runner.LogBuffer.Update([new("data_time", Stopwatch.GetElapsedTime(_t).TotalSeconds)]);

    public override void AfterIter(BaseRunner runner)
    {
        runner.LogBuffer.Update([new("time", Stopwatch.GetElapsedTime(_t).TotalSeconds)]);
        _t = Stopwatch.GetTimestamp();
    }
}
