namespace DetSharp.Cli.Demo;

/// <summary>What <c>detsharp demo</c> trains: its schedule fitted to the time budget from a timing run.</summary>
/// <param name="Epochs">runner.max_epochs.</param>
/// <param name="LrStep">lr_config.step: the lr drops for the last quarter.</param>
/// <param name="WarmupIters">lr_config.warmup_iters: the config's, cut to a quarter of a short run so the run has time to learn.</param>
/// <param name="EvalStart">evaluation.start, so that the last epoch is always evaluated whatever the interval.</param>
/// <param name="EstimatedSeconds">Training plus evaluation time expected from the timing.</param>
/// <param name="OverBudget">The minimum schedule takes longer than the budget (a slow or busy machine): it runs anyway.</param>
public sealed record DemoPlan(int Epochs, int LrStep, int WarmupIters, int EvalInterval, int EvalStart, double SecondsPerIter,
    double EstimatedSeconds, bool OverBudget);

/// <summary>
/// Fits the demo's schedule to its budget so that it always ends with a trained, evaluated model. The timing is the median
/// of the timed iterations (after untimed warm-up ones), so one iteration slowed by another process or by first-use
/// allocation does not decide the schedule; and at least <see cref="MinEpochs"/> epochs train — the pretrained demo model
/// passes bbox mAP 0.4 by then — even when the machine is too slow for the budget: a late demo beats one that ends
/// without a model.
/// </summary>
public static class DemoSchedule
{
    public const int MinEpochs = 3;
    public const int MaxEpochs = 40;

    /// <summary>Iterations run untimed before the timed ones (first-use allocation, caches).</summary>
    public const int WarmupTimingIters = 2;

    /// <summary>Evaluating one val image costs about this fraction of a training iteration (measured on the demo model).</summary>
    public const double EvalCostPerImage = 0.6;

    /// <summary>The median of <paramref name="iterSeconds"/>: robust to a few iterations slowed by something else.</summary>
    public static double Median(IReadOnlyList<double> iterSeconds)
    {
        if (iterSeconds.Count == 0) throw new ArgumentException("no timed iterations", nameof(iterSeconds));
        var sorted = iterSeconds.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <param name="configWarmupIters">The config's lr_config.warmup_iters.</param>
    public static DemoPlan Fit(double secondsPerIter, int itersPerEpoch, int valImages, double budgetSeconds, int evalInterval, int configWarmupIters)
    {
        evalInterval = Math.Max(1, evalInterval);
        double evalSeconds = valImages * secondsPerIter * EvalCostPerImage;
        double epochSeconds = itersPerEpoch * secondsPerIter + evalSeconds / evalInterval;
        int fitted = budgetSeconds <= 0 ? 0 : (int)Math.Min(MaxEpochs, budgetSeconds / epochSeconds);
        int epochs = Math.Clamp(fitted, MinEpochs, MaxEpochs);
        int step = Math.Clamp((int)Math.Round(epochs * 0.75), 1, epochs - 1);
        int warmup = Math.Max(1, Math.Min(configWarmupIters, epochs * itersPerEpoch / 4));
        // mmcv's EvalHook evaluates at start, start + interval, ...: this start ends the sequence on the last epoch.
        int start = epochs % evalInterval == 0 ? evalInterval : epochs % evalInterval;
        int evaluations = (epochs - start) / evalInterval + 1;
        double estimated = epochs * itersPerEpoch * secondsPerIter + evaluations * evalSeconds;
        return new DemoPlan(epochs, step, warmup, evalInterval, start, secondsPerIter, estimated, estimated > budgetSeconds);
    }
}
