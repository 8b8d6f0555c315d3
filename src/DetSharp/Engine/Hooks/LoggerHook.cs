using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>LoggerHook</c>: averages the log buffer every <c>interval</c> iterations (and at the end of an epoch unless
/// <c>ignore_last</c>), hands the result to <see cref="Log"/>, and clears it after the last logger hook has seen it.
/// </summary>
public abstract class LoggerHook(int interval = 10, bool ignoreLast = true, bool resetFlag = false, bool byEpoch = true) : Hook
{
    public int Interval { get; } = interval;

    public bool IgnoreLast { get; } = ignoreLast;

    public bool ResetFlag { get; protected set; } = resetFlag;

    public bool ByEpoch { get; } = byEpoch;

    public override HookPriority DefaultPriority => HookPriority.VeryLow;

    protected abstract void Log(BaseRunner runner);

    public override void BeforeRun(BaseRunner runner)
    {
        // The last logger hook clears the buffer's output after logging.
        if (runner.Hooks.LastOrDefault(h => h is LoggerHook) == this) ResetFlag = true;
    }

    public override void BeforeEpoch(BaseRunner runner) => runner.LogBuffer.Clear();

    public override void AfterTrainIter(BaseRunner runner)
    {
        if (ByEpoch && EveryNInnerIters(runner, Interval)) runner.LogBuffer.Average(Interval);
        else if (!ByEpoch && EveryNIters(runner, Interval)) runner.LogBuffer.Average(Interval);
        else if (EndOfEpoch(runner) && !IgnoreLast) runner.LogBuffer.Average(Interval);
        if (runner.LogBuffer.Ready)
        {
            Log(runner);
            if (ResetFlag) runner.LogBuffer.ClearOutput();
        }
    }

    public override void AfterTrainEpoch(BaseRunner runner)
    {
        if (!runner.LogBuffer.Ready) return;
        Log(runner);
        if (ResetFlag) runner.LogBuffer.ClearOutput();
    }

    public override void AfterValEpoch(BaseRunner runner)
    {
        runner.LogBuffer.Average();
        Log(runner);
        if (ResetFlag) runner.LogBuffer.ClearOutput();
    }

    /// <summary>"train" unless the buffer holds only evaluation results (no iteration time): then "val".</summary>
    protected static string GetMode(BaseRunner runner) =>
        runner.Mode == "train" ? (runner.LogBuffer.Output.ContainsKey("time") ? "train" : "val") : runner.Mode;

    protected static int GetEpoch(BaseRunner runner) => runner.Mode == "train" ? runner.Epoch + 1 : runner.Epoch;

    protected int GetIter(BaseRunner runner, bool innerIter = false) =>
        ByEpoch && innerIter ? runner.InnerIter + 1 : runner.Iter + 1;
}
