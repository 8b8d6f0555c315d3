using System.Diagnostics;
using System.Globalization;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>TextLoggerHook</c>: a text line per interval in the log
/// (<c>Epoch [1][50/930]\tlr: 1.978e-03, eta: 0:56:09, time: 0.303, data_time: 0.051, loss_rpn_cls: 0.0593, ..., loss: 1.1088</c>)
/// and a JSON object per line in <c>{timestamp}.log.json</c> (the run meta first; floats rounded to 5 decimals; keys
/// mode, epoch, iter, lr, memory, data_time, losses, time). <c>memory</c> (max CUDA memory in MB) appears only on CUDA,
/// as in mmcv. On an interactive terminal a progress line shows between log lines.
/// </summary>
[Register(Registries.HooksName, "TextLoggerHook")]
public sealed class TextLoggerHook(int interval = 10, bool ignoreLast = true, bool resetFlag = false, bool byEpoch = true, int intervalExpName = 1000)
    : LoggerHook(interval, ignoreLast, resetFlag, byEpoch)
{
    private double _timeSecTot;
    private int _startIter;
    private long _runStart;

    public string? JsonLogPath { get; private set; }

    public int IntervalExpName { get; } = intervalExpName;

    public override void BeforeRun(BaseRunner runner)
    {
        base.BeforeRun(runner);
        _startIter = runner.Iter;
        _runStart = Stopwatch.GetTimestamp();
        JsonLogPath = Path.Combine(runner.WorkDir, $"{runner.Timestamp}.log.json");
        if (runner.Meta.Count > 0) DumpLog(runner.Meta);
    }

    public override void AfterTrainIter(BaseRunner runner)
    {
        base.AfterTrainIter(runner);
        ShowProgress(runner);
    }

    protected override void Log(BaseRunner runner)
    {
        var output = runner.LogBuffer.Output;
        int curIter;
        if (output.Remove("eval_iter_num", out var evalIters)) curIter = Convert.ToInt32(evalIters, CultureInfo.InvariantCulture);
        else curIter = GetIter(runner, innerIter: true);
        var logDict = new OrderedDictionary<string, object?>
        {
            ["mode"] = GetMode(runner),
            ["epoch"] = GetEpoch(runner),
            ["iter"] = curIter,
        };
        logDict["lr"] = runner.Optimizer is null ? 0.0 : runner.CurrentLr()[0];
        foreach (var (k, v) in output) logDict[k] = v;
        LogInfo(runner, logDict);
        DumpLog(logDict);
    }

    private void LogInfo(BaseRunner runner, OrderedDictionary<string, object?> logDict)
    {
        if (runner.Meta.TryGetValue("exp_name", out var expName)
            && (EveryNIters(runner, IntervalExpName) || (ByEpoch && EndOfEpoch(runner))))
            runner.Logger.Info($"Exp name: {expName}");
        string logStr;
        if ((string)logDict["mode"]! == "train")
        {
            string lrStr = $"lr: {FormatLr((double)logDict["lr"]!)}";
            logStr = ByEpoch
                ? $"Epoch [{logDict["epoch"]}][{logDict["iter"]}/{runner.DataLoader?.Count ?? 0}]\t"
                : $"Iter [{logDict["iter"]}/{runner.MaxIters}]\t";
            logStr += lrStr + ", ";
            if (logDict.TryGetValue("time", out var t) && t is double time)
            {
                _timeSecTot += time * Interval;
                double avg = _timeSecTot / (runner.Iter - _startIter + 1);
                double eta = avg * (runner.MaxIters - runner.Iter - 1);
                logStr += $"eta: {PyFormat.TimeDelta((long)eta)}, ";
                logStr += $"time: {F(time, 3)}, data_time: {F(Convert.ToDouble(logDict.GetValueOrDefault("data_time") ?? 0.0, CultureInfo.InvariantCulture), 3)}, ";
                if (logDict.TryGetValue("memory", out var memory)) logStr += $"memory: {memory}, ";
            }
        }
        else
        {
            logStr = ByEpoch ? $"Epoch({logDict["mode"]}) [{logDict["epoch"]}][{logDict["iter"]}]\t" : $"Iter({logDict["mode"]}) [{logDict["iter"]}]\t";
        }
        logStr += FormatItems(logDict);
        runner.Logger.Info(logStr);
    }

    /// <summary>The <c>name: value</c> items of a text log line (floats with 4 decimals), skipping those already in its prefix.</summary>
    public static string FormatItems(IEnumerable<KeyValuePair<string, object?>> logDict)
    {
        string[] skip = ["mode", "Epoch", "iter", "lr", "time", "data_time", "memory", "epoch"];
        return string.Join(", ", logDict.Where(kv => !skip.Contains(kv.Key)).Select(kv =>
            $"{kv.Key}: {(kv.Value is double d ? F(d, 4) : Convert.ToString(kv.Value, CultureInfo.InvariantCulture))}"));
    }

    /// <summary>Python's <c>f'{lr:.3e}'</c>: <c>1.978e-03</c>.</summary>
    public static string FormatLr(double lr) => PyFormat.Sci(lr, 3);

    private static string F(double value, int decimals) => PyFormat.Fixed(value, decimals);

    private void DumpLog(IEnumerable<KeyValuePair<string, object?>> logDict)
    {
        var json = new OrderedDictionary<string, object?>();
        foreach (var (k, v) in logDict) json[k] = RoundFloats(Jsonable(v));
        File.AppendAllText(JsonLogPath!, PyFormat.Json(json) + "\n");
    }

    private static object? RoundFloats(object? value) => value switch
    {
        double d => PyFormat.Round(d, 5),
        List<object?> list => list.Select(RoundFloats).ToList(),
        _ => value,
    };

    /// <summary>Checkpoint-meta values in JSON terms: tuples become lists, dicts keep their order, tensors their shape.</summary>
    internal static object? Jsonable(object? value) => value switch
    {
        PyTuple t => t.Items.Select(Jsonable).ToList(),
        PyDict d => ToOrdered(d),
        List<object?> l => l.Select(Jsonable).ToList(),
        TorchSharp.torch.Tensor t => $"tensor{Checkpoint.TorchSize(t.shape)[10..]}",
        string s => s,
        IEnumerable<string> names => names.Cast<object?>().ToList(),
        _ => value,
    };

    private static OrderedDictionary<string, object?> ToOrdered(PyDict d)
    {
        var o = new OrderedDictionary<string, object?>();
        foreach (var (k, v) in d) o[Convert.ToString(k, CultureInfo.InvariantCulture)!] = Jsonable(v);
        return o;
    }

    private void ShowProgress(BaseRunner runner)
    {
        if (runner.Outputs is null) return;
        int done = runner.Iter - _startIter + 1;
        double perIter = Stopwatch.GetElapsedTime(_runStart).TotalSeconds / Math.Max(done, 1);
        long eta = (long)(perIter * Math.Max(runner.MaxIters - runner.Iter - 1, 0));
        double loss = runner.Outputs.LogVars[^1].Value;
        string where = ByEpoch
            ? $"Epoch [{runner.Epoch + 1}/{runner.MaxEpochs}] {ProgressBar.Bar(runner.InnerIter + 1, runner.DataLoader?.Count ?? 0, 24)}"
            : $"Iter {ProgressBar.Bar(runner.Iter + 1, runner.MaxIters, 24)}";
        string lr = runner.Optimizer is null ? "" : $" lr {FormatLr(runner.CurrentLr()[0])}";
        runner.Logger.Progress($"{where} loss {F(loss, 4)}{lr} eta {PyFormat.TimeDelta(eta)}");
    }
}
