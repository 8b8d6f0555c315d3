using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>mmcv's hook priorities (lower runs first).</summary>
public enum HookPriority
{
    Highest = 0,
    VeryHigh = 10,
    High = 30,
    AboveNormal = 40,
    Normal = 50,
    BelowNormal = 60,
    Low = 70,
    VeryLow = 90,
    Lowest = 100,
}

/// <summary>
/// mmcv's <c>Hook</c>: called by the runner at fixed points. The train/val variants of the epoch and iteration
/// points default to the generic <see cref="BeforeEpoch"/>, <see cref="AfterEpoch"/>, <see cref="BeforeIter"/>
/// and <see cref="AfterIter"/>, as in mmcv.
/// </summary>
public abstract class Hook
{
    public virtual HookPriority DefaultPriority => HookPriority.Normal;

    public virtual void BeforeRun(BaseRunner runner) { }

    public virtual void AfterRun(BaseRunner runner) { }

    public virtual void BeforeEpoch(BaseRunner runner) { }

    public virtual void AfterEpoch(BaseRunner runner) { }

    public virtual void BeforeIter(BaseRunner runner) { }

    public virtual void AfterIter(BaseRunner runner) { }

    public virtual void BeforeTrainEpoch(BaseRunner runner) => BeforeEpoch(runner);

    public virtual void BeforeValEpoch(BaseRunner runner) => BeforeEpoch(runner);

    public virtual void AfterTrainEpoch(BaseRunner runner) => AfterEpoch(runner);

    public virtual void AfterValEpoch(BaseRunner runner) => AfterEpoch(runner);

    public virtual void BeforeTrainIter(BaseRunner runner) => BeforeIter(runner);

    public virtual void BeforeValIter(BaseRunner runner) => BeforeIter(runner);

    public virtual void AfterTrainIter(BaseRunner runner) => AfterIter(runner);

    public virtual void AfterValIter(BaseRunner runner) => AfterIter(runner);

    protected static bool EveryNEpochs(BaseRunner runner, int n) => n > 0 && (runner.Epoch + 1) % n == 0;

    protected static bool EveryNInnerIters(BaseRunner runner, int n) => n > 0 && (runner.InnerIter + 1) % n == 0;

    protected static bool EveryNIters(BaseRunner runner, int n) => n > 0 && (runner.Iter + 1) % n == 0;

    protected static bool EndOfEpoch(BaseRunner runner) => runner.DataLoader is { } loader && runner.InnerIter + 1 == loader.Count;

    protected static bool IsLastEpoch(BaseRunner runner) => runner.Epoch + 1 == runner.MaxEpochs;

    protected static bool IsLastIter(BaseRunner runner) => runner.Iter + 1 == runner.MaxIters;
}
