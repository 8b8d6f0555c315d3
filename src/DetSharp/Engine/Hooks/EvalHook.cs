using System.Globalization;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Runners;

namespace DetSharp.Engine.Hooks;

/// <summary>The metrics of one evaluation (e.g. CocoMetric's bbox_mAP ... and the copypaste string) and how many val batches it ran.</summary>
public sealed record EvalResult(IReadOnlyList<KeyValuePair<string, object?>> Metrics, int NumBatches);

/// <summary>
/// mmcv/MMDetection's <c>EvalHook</c> (<c>evaluation=dict(interval=1, metric=..., save_best=...)</c>): after every
/// <c>interval</c> epochs (or iterations), from <c>start</c> if given, runs <see cref="Evaluate"/> (the val-set inference
/// plus <c>dataset.evaluate</c>), puts the metrics into the log as a <c>val</c> line, and with <c>save_best</c> keeps
/// <c>best_{metric}_epoch_N.pth</c> for the best score so far (<c>'auto'</c> = the first metric; rule inferred from the name).
/// MMDetection's <c>dynamic_intervals=[(285, 1)]</c> changes the interval from a milestone on: before each epoch (or
/// iteration) the interval is that of the last milestone ≤ progress + 1 (MMDetection's <c>_calc_dynamic_intervals</c> and
/// <c>_decide_interval</c>; milestone 0 holds <c>interval</c>).
/// </summary>
public sealed class EvalHook : Hook
{
    private static readonly string[] GreaterKeys = ["acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc"];
    private static readonly string[] LessKeys = ["loss"];
    private string? _keyIndicator;
    private string? _rule;
    private string? _bestCkptPath;
    private readonly List<(int Milestone, int Interval)> _dynamicIntervals = [];

    public EvalHook(Func<BaseRunner, EvalResult> evaluate, int interval = 1, int? start = null, bool byEpoch = true, string? saveBest = null, string? rule = null,
        IReadOnlyList<(int Milestone, int Interval)>? dynamicIntervals = null)
    {
        if (interval <= 0) throw new DetSharpException($"evaluation.interval must be a positive integer, got {interval}.");
        if (start is < 0) throw new DetSharpException($"evaluation.start must be a non-negative integer, got {start}.");
        if (rule is not null and not "greater" and not "less")
            throw new DetSharpException($"evaluation.rule must be 'greater', 'less' or None, got '{rule}'.");
        Evaluate = evaluate;
        Interval = interval;
        Start = start;
        ByEpoch = byEpoch;
        SaveBest = saveBest;
        _keyIndicator = saveBest;
        _rule = rule;
        if (saveBest is not null and not "auto") _rule ??= InferRule(saveBest);
        if (dynamicIntervals is not null)
        {
            if (dynamicIntervals.Any(d => d.Interval <= 0) || dynamicIntervals.Zip(dynamicIntervals.Skip(1)).Any(p => p.First.Milestone >= p.Second.Milestone)
                || dynamicIntervals.Any(d => d.Milestone <= 0))
                throw new DetSharpException(
                    $"evaluation.dynamic_intervals must be (milestone, interval) pairs with rising positive milestones and positive intervals, got [{string.Join(", ", dynamicIntervals)}].");
            _dynamicIntervals.Add((0, interval));
            _dynamicIntervals.AddRange(dynamicIntervals);
        }
    }

    /// <summary>
    /// <c>evaluation.dynamic_intervals</c> as (milestone, interval) pairs: a list of 2-tuples such as <c>[(285, 1)]</c>, or
    /// null when the key is absent.
    /// </summary>
    public static List<(int Milestone, int Interval)>? DynamicIntervalsFrom(ConfigDict evaluation)
    {
        if (evaluation.Get<List<List<int>>?>("dynamic_intervals", null) is not { } pairs) return null;
        if (pairs.Any(p => p.Count != 2))
            throw new DetSharpException("evaluation.dynamic_intervals must be a list of (milestone, interval) pairs, e.g. [(285, 1)].");
        return pairs.Select(p => (p[0], p[1])).ToList();
    }

    public Func<BaseRunner, EvalResult> Evaluate { get; }

    /// <summary>The evaluation interval now (it changes at the <c>dynamic_intervals</c> milestones).</summary>
    public int Interval { get; private set; }

    public int? Start { get; }

    public bool ByEpoch { get; }

    public string? SaveBest { get; }

    public override HookPriority DefaultPriority => HookPriority.Low;

    public override void BeforeTrainEpoch(BaseRunner runner) => DecideInterval(runner);

    public override void BeforeTrainIter(BaseRunner runner) => DecideInterval(runner);

    /// <summary>MMDetection's <c>_decide_interval</c>: the interval of the last milestone ≤ progress + 1 (bisect_right).</summary>
    private void DecideInterval(BaseRunner runner)
    {
        if (_dynamicIntervals.Count == 0) return;
        int progress = (ByEpoch ? runner.Epoch : runner.Iter) + 1;
        Interval = _dynamicIntervals.Last(d => d.Milestone <= progress).Interval;
    }

    public override void AfterTrainEpoch(BaseRunner runner)
    {
        if (ByEpoch && ShouldEvaluate(runner)) DoEvaluate(runner);
    }

    public override void AfterTrainIter(BaseRunner runner)
    {
        if (!ByEpoch && ShouldEvaluate(runner)) DoEvaluate(runner);
    }

    private bool ShouldEvaluate(BaseRunner runner)
    {
        int current = ByEpoch ? runner.Epoch : runner.Iter;
        if (Start is null) return ByEpoch ? EveryNEpochs(runner, Interval) : EveryNIters(runner, Interval);
        if (current + 1 < Start) return false;
        return (current + 1 - Start.Value) % Interval == 0;
    }

    private void DoEvaluate(BaseRunner runner)
    {
        var result = Evaluate(runner);
        runner.LogBuffer.Output["eval_iter_num"] = result.NumBatches;
        foreach (var (name, value) in result.Metrics) runner.LogBuffer.Output[name] = value;
        runner.LogBuffer.Ready = true;
        if (SaveBest is null) return;
        if (result.Metrics.Count == 0)
        {
            runner.Logger.Warning("Since `eval_res` is an empty dict, the behavior to save the best checkpoint will be skipped in this evaluation.");
            return;
        }
        if (_keyIndicator == "auto")
        {
            _keyIndicator = result.Metrics[0].Key;
            _rule ??= InferRule(_keyIndicator);
        }
        var entry = result.Metrics.FirstOrDefault(kv => kv.Key == _keyIndicator);
        if (entry.Key is null)
            throw new DetSharpException($"evaluation.save_best='{_keyIndicator}' is not among the metrics: {string.Join(", ", result.Metrics.Select(m => m.Key))}.");
        SaveBestCheckpoint(runner, Convert.ToDouble(entry.Value, CultureInfo.InvariantCulture));
    }

    private static string InferRule(string key)
    {
        if (GreaterKeys.Any(k => key.Contains(k, StringComparison.Ordinal))) return "greater";
        if (LessKeys.Any(k => key.Contains(k, StringComparison.Ordinal))) return "less";
        throw new DetSharpException($"cannot infer the rule for evaluation.save_best='{key}'; set evaluation.rule to 'greater' or 'less'.");
    }

    private void SaveBestCheckpoint(BaseRunner runner, double score)
    {
        string current = ByEpoch ? $"epoch_{runner.Epoch + 1}" : $"iter_{runner.Iter + 1}";
        var hookMsgs = runner.Meta.TryGetValue("hook_msgs", out var h) && h is PyDict d ? d : new PyDict();
        runner.Meta["hook_msgs"] = hookMsgs;
        double best = hookMsgs.GetOrNull("best_score") is { } b ? Convert.ToDouble(b, CultureInfo.InvariantCulture)
            : _rule == "greater" ? double.NegativeInfinity : double.PositiveInfinity;
        bool better = _rule == "greater" ? score > best : score < best;
        if (!better) return;
        hookMsgs["best_score"] = score;
        if (_bestCkptPath is not null && File.Exists(_bestCkptPath)) File.Delete(_bestCkptPath);
        string name = $"best_{_keyIndicator}_{current}.pth";
        _bestCkptPath = Path.Combine(runner.WorkDir, name);
        hookMsgs["best_ckpt"] = _bestCkptPath;
        runner.SaveCheckpoint(runner.WorkDir, name, createSymlink: false);
        runner.Logger.Info($"Now best checkpoint is saved as {name}.");
        runner.Logger.Info($"Best {_keyIndicator} is {score.ToString("F4", CultureInfo.InvariantCulture)} at {(ByEpoch ? runner.Epoch + 1 : runner.Iter + 1)} {(ByEpoch ? "epoch" : "iter")}.");
    }
}
