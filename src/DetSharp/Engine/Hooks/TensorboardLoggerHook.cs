using System.Globalization;
using DetSharp.Engine.Runners;
using DetSharp.Engine.Tensorboard;
using DetSharp.Registry;
using TorchSharp.Modules;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>TensorboardLoggerHook</c>: every logged buffer output becomes TensorBoard scalars in
/// <c>log_dir</c> (default <c>&lt;work_dir&gt;/tf_logs</c>), tagged <c>{mode}/{var}</c> (<c>train/loss_cls</c>,
/// <c>val/bbox_mAP</c>) plus <c>learning_rate</c> and <c>momentum</c>, at step <c>runner.iter + 1</c> (mmcv's
/// <c>get_iter</c>). <c>time</c> and <c>data_time</c> are skipped, as in mmcv; strings such as <c>bbox_mAP_copypaste</c>
/// become text summaries (<c>val/bbox_mAP_copypaste/text_summary</c>), as mmcv's <c>add_text</c> makes them. No
/// TensorFlow: see <see cref="EventFileWriter"/>.
/// </summary>
[Register(Registries.HooksName, "TensorboardLoggerHook")]
public sealed class TensorboardLoggerHook(string? logDir = null, int interval = 10, bool ignoreLast = true, bool resetFlag = false, bool byEpoch = true)
    : LoggerHook(interval, ignoreLast, resetFlag, byEpoch)
{
    private static readonly string[] TagsToSkip = ["time", "data_time"];

    public string? LogDir { get; private set; } = logDir;

    public EventFileWriter? Writer { get; private set; }

    public override void BeforeRun(BaseRunner runner)
    {
        base.BeforeRun(runner);
        LogDir ??= Path.Combine(runner.WorkDir, "tf_logs");
        Writer?.Dispose();
        Writer = new EventFileWriter(LogDir);
    }

    protected override void Log(BaseRunner runner)
    {
        if (Writer is null) return;
        long step = GetIter(runner);
        foreach (var (tag, value) in GetLoggableTags(runner))
        {
            if (value is string text) Writer.AddText(tag, text, step);
            else Writer.AddScalar(tag, (float)(double)value, step);
        }
    }

    /// <summary>mmcv's <c>get_loggable_tags(allow_text=True)</c>: scalars (as double) and strings, then the lr and momentum tags.</summary>
    public IEnumerable<KeyValuePair<string, object>> GetLoggableTags(BaseRunner runner)
    {
        string mode = GetMode(runner);
        var tags = new OrderedDictionary<string, object>();
        foreach (var (name, value) in runner.LogBuffer.Output)
        {
            if (TagsToSkip.Contains(name)) continue;
            if (value is string text) tags[$"{mode}/{name}"] = text;
            else if (TryScalar(value, out double d)) tags[$"{mode}/{name}"] = d;
        }
        if (runner.Optimizer is { } optimizer)
        {
            tags["learning_rate"] = runner.CurrentLr()[0];
            if (Momentum(optimizer) is double m) tags["momentum"] = m;
        }
        return tags;
    }

    private static bool TryScalar(object? value, out double result)
    {
        switch (value)
        {
            case double or float or int or long or short or byte or decimal:
                result = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                return true;
            case bool b:
                result = b ? 1 : 0;
                return true;
            default:
                result = 0;
                return false;
        }
    }

    /// <summary>mmcv's <c>current_momentum</c> of the first group: SGD's momentum, Adam's beta1.</summary>
    private static double? Momentum(OptimizerHelper optimizer)
    {
        var options = optimizer.ParamGroups.FirstOrDefault() is ParamGroup g ? g.Options : null;
        return options switch
        {
            SGD.Options s => s.momentum,
            Adam.Options a => a.beta1,
            AdamW.Options w => w.beta1,
            _ => null,
        };
    }

    public override void AfterRun(BaseRunner runner)
    {
        Writer?.Dispose();
        Writer = null;
    }
}
