using System.Globalization;
using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>CheckpointHook</c> (<c>checkpoint_config</c>): every <c>interval</c> epochs (or iterations when not
/// <c>by_epoch</c>) and at the end, writes <c>epoch_N.pth</c> / <c>iter_N.pth</c> (1-based) with <c>latest.pth</c> pointing
/// at it, and keeps only the newest <c>max_keep_ckpts</c> when that is positive. <paramref name="meta"/> (MMDetection puts
/// its version and CLASSES there) goes first in every checkpoint's meta.
/// </summary>
[Register(Registries.HooksName, "CheckpointHook")]
public sealed class CheckpointHook(int interval = -1, bool byEpoch = true, bool saveOptimizer = true, string? outDir = null,
    int maxKeepCkpts = -1, bool saveLast = true, IEnumerable<KeyValuePair<string, object?>>? meta = null, string? filenameTmpl = null) : Hook
{
    private readonly List<KeyValuePair<string, object?>> _meta = meta?.ToList() ?? [];

    public int Interval { get; } = interval;

    /// <summary>The meta its checkpoints carry besides the runner's (MMDetection's CLASSES and version).</summary>
    public IReadOnlyList<KeyValuePair<string, object?>> Meta => _meta;

    public bool ByEpoch { get; } = byEpoch;

    public string? OutDir { get; private set; } = outDir;

    public int MaxKeepCkpts { get; } = maxKeepCkpts;

    public override void BeforeRun(BaseRunner runner)
    {
        OutDir = OutDir is null ? runner.WorkDir : Path.GetFullPath(OutDir);
        Directory.CreateDirectory(OutDir);
        runner.Logger.Info($"Checkpoints will be saved to {OutDir} by HardDiskBackend.");
    }

    public override void AfterTrainEpoch(BaseRunner runner)
    {
        if (!ByEpoch) return;
        if (EveryNEpochs(runner, Interval) || (saveLast && IsLastEpoch(runner)))
        {
            runner.Logger.Info($"Saving checkpoint at {runner.Epoch + 1} epochs");
            Save(runner);
        }
    }

    public override void AfterTrainIter(BaseRunner runner)
    {
        if (ByEpoch) return;
        if (EveryNIters(runner, Interval) || (saveLast && IsLastIter(runner)))
        {
            runner.Logger.Info($"Saving checkpoint at {runner.Iter + 1} iterations");
            Save(runner);
        }
    }

    private void Save(BaseRunner runner)
    {
        string path = runner.SaveCheckpoint(OutDir!, filenameTmpl, saveOptimizer, _meta);
        var hookMsgs = runner.Meta.TryGetValue("hook_msgs", out var existing) && existing is Checkpoints.PyDict d ? d : new Checkpoints.PyDict();
        hookMsgs["last_ckpt"] = path;
        runner.Meta["hook_msgs"] = hookMsgs;
        if (MaxKeepCkpts <= 0) return;
        string template = filenameTmpl ?? (ByEpoch ? "epoch_{}.pth" : "iter_{}.pth");
        int current = ByEpoch ? runner.Epoch + 1 : runner.Iter + 1;
        int step = Math.Max(Interval, 1);
        for (int n = current - MaxKeepCkpts * step; n > 0; n -= step)
        {
            string old = Path.Combine(OutDir!, template.Replace("{}", n.ToString(CultureInfo.InvariantCulture)));
            if (!File.Exists(old)) break;
            File.Delete(old);
        }
    }
}
