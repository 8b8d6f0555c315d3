using DetSharp.Distributed;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.IO;
using DetSharp.Logging;
using DetSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Runners;

/// <summary>The outputs of one iteration (mmcv's <c>runner.outputs</c>): total loss, logged scalars, batch size.</summary>
public sealed record IterOutputs(Tensor Loss, IReadOnlyList<KeyValuePair<string, double>> LogVars, int NumSamples);

/// <summary>Training stopped because a loss (or the gradient norm) stopped being finite.</summary>
public sealed class TrainingDivergedException(string message) : DetSharpException(message);

/// <summary>
/// mmcv's <c>BaseRunner</c>: holds the model, optimizer, counters (0-based <see cref="Epoch"/>, <see cref="Iter"/>,
/// <see cref="InnerIter"/>), the log buffer and the hooks, and calls the hooks at mmcv's points.
/// </summary>
public abstract partial class BaseRunner
{
    private readonly List<(Hook Hook, HookPriority Priority)> _hooks = [];

    protected BaseRunner(ITrainableDetector model, OptimizerHelper? optimizer, string workDir, RunLogger logger,
        OrderedDictionary<string, object?>? meta, int? maxEpochs, int? maxIters)
    {
        if (maxEpochs is not null && maxIters is not null)
            throw new DetSharpException("runner: only one of max_epochs and max_iters can be set.");
        Model = model;
        Module = model as nn.Module ?? throw new ArgumentException($"{model.GetType().Name} must derive from torch.nn.Module", nameof(model));
        Optimizer = optimizer;
        WorkDir = Path.GetFullPath(workDir);
        Directory.CreateDirectory(WorkDir);
        Logger = logger;
        Meta = meta ?? [];
        MaxEpochs = maxEpochs ?? 0;
        MaxIters = maxIters ?? 0;
    }

    public ITrainableDetector Model { get; }

    public nn.Module Module { get; }

    public OptimizerHelper? Optimizer { get; }

    public string WorkDir { get; }

    public RunLogger Logger { get; }

    /// <summary>mmcv's <c>runner.meta</c>: env_info, config, seed, exp_name, hook_msgs; saved in every checkpoint.</summary>
    public OrderedDictionary<string, object?> Meta { get; private set; }

    public int Epoch { get; protected set; }

    public int Iter { get; protected set; }

    public int InnerIter { get; protected set; }

    public int MaxEpochs { get; protected set; }

    public int MaxIters { get; protected set; }

    /// <summary>"train" or "val".</summary>
    public string Mode { get; protected set; } = "train";

    /// <summary>The loader of the running workflow phase (mmcv's <c>runner.data_loader</c>).</summary>
    public IBatchSource? DataLoader { get; protected set; }

    public LogBuffer LogBuffer { get; } = new();

    /// <summary>
    /// The ranks of a distributed run (mmcv's <c>runner.rank</c> / <c>world_size</c>); the world of one by default. The
    /// optimizer hook averages the gradients over it and the logged losses are averaged over it.
    /// </summary>
    public IProcessGroup ProcessGroup { get; set; } = SingleProcessGroup.Instance;

    /// <summary>The run's timestamp (<c>20211221_215115</c>), naming <c>{timestamp}.log</c> and <c>{timestamp}.log.json</c>.</summary>
    public string Timestamp { get; set; } = DateTime.Now.ToString("yyyyMMdd_HHmmss", System.Globalization.CultureInfo.InvariantCulture);

    public IterOutputs? Outputs { get; protected set; }

    /// <summary>Set by <see cref="Stop"/>: the run ends after the current iteration.</summary>
    public bool StopRequested { get; private set; }

    /// <summary>
    /// Ends the run after the current iteration (a hook calls it, e.g. to time a fixed number of iterations): the epoch is
    /// left unfinished, so <c>after_train_epoch</c> (checkpoint, evaluation) is not called; <c>after_run</c> still is.
    /// </summary>
    public void Stop() => StopRequested = true;

    public IReadOnlyList<Hook> Hooks => _hooks.Select(h => h.Hook).ToList();

    /// <summary>True for the epoch-based runner (epochs are the unit of the schedule and of checkpoints).</summary>
    public abstract bool ByEpoch { get; }

    /// <summary>mmcv's <c>register_hook</c>: inserted after every hook of the same or higher priority.</summary>
    public void RegisterHook(Hook hook, HookPriority? priority = null)
    {
        var p = priority ?? hook.DefaultPriority;
        int at = _hooks.Count;
        for (int i = _hooks.Count - 1; i >= 0; i--)
        {
            if (p >= _hooks[i].Priority)
            {
                at = i + 1;
                break;
            }
            at = i;
        }
        _hooks.Insert(at, (hook, p));
    }

    public T? GetHook<T>() where T : Hook => _hooks.Select(h => h.Hook).OfType<T>().FirstOrDefault();

    /// <summary>The order hooks run in, as mmcv's <c>get_hook_info</c> lists it.</summary>
    public string HookInfo() =>
        string.Join("\n", _hooks.Select(h => $"({h.Priority.ToString().ToUpperInvariant()}) {h.Hook.GetType().Name}"));

    protected void CallHook(Action<Hook> call)
    {
        foreach (var (hook, _) in _hooks.ToList()) call(hook);
    }

    /// <summary>The lr of every parameter group.</summary>
    public IReadOnlyList<double> CurrentLr() =>
        Optimizer is null ? throw new InvalidOperationException("lr is not applicable because the optimizer does not exist.")
            : Optimizer.ParamGroups.Select(g => g.LearningRate).ToList();

    /// <summary>Runs the workflow: <c>[("train", 1)]</c> or with <c>("val", 1)</c> (losses on the val loader).</summary>
    public abstract void Run(IReadOnlyList<IBatchSource> loaders, IReadOnlyList<(string Mode, int Count)> workflow);

    /// <summary>mmcv's <c>runner.save_checkpoint</c>: meta = given meta + runner meta + epoch/iter; optional latest.pth link.</summary>
    public abstract string SaveCheckpoint(string outDir, string? filenameTmpl = null, bool saveOptimizer = true,
        IEnumerable<KeyValuePair<string, object?>>? meta = null, bool createSymlink = true);

    /// <summary>
    /// After a run stopped between iterations (a cancelled API run): a checkpoint that <c>resume_from</c> /
    /// <c>--auto-resume</c> continue from the next iteration, named <c>iter_{Iter}.pth</c>, with the checkpoint hook's meta,
    /// and <c>latest.pth</c> pointing at it. Returns its path.
    /// </summary>
    public abstract string SaveResumeCheckpoint(string outDir, IEnumerable<KeyValuePair<string, object?>>? meta = null);

    protected string WriteCheckpoint(string outDir, string filename, bool saveOptimizer, IEnumerable<KeyValuePair<string, object?>>? meta,
        bool createSymlink, int epochMeta, int iterMeta)
    {
        var full = new OrderedDictionary<string, object?>();
        if (meta is not null) foreach (var (k, v) in meta) full[k] = v;
        foreach (var (k, v) in Meta) full[k] = v;
        full["epoch"] = (long)epochMeta;
        full["iter"] = (long)iterMeta;
        full["detsharp_version"] = EngineInfo.DetSharpVersion;
        full["torchsharp_version"] = EngineInfo.TorchSharpVersion;
        full["time"] = EngineInfo.AscTime(DateTime.Now);
        string path = Path.Combine(outDir, filename);
        Checkpoint.Save(path, Module, saveOptimizer ? Optimizer : null, full);
        if (createSymlink) Checkpoint.UpdateLatest(outDir, filename);
        return path;
    }

    /// <summary>mmcv's <c>load_checkpoint</c> for <c>load_from</c>: weights only, non-strict, mismatches reported as a warning.</summary>
    public StateDictLoadReport LoadCheckpoint(string path, bool strict = false)
    {
        Logger.Info($"load checkpoint from {ModelZoo.Describe(path)}");
        using var ckpt = Checkpoint.Load(path, Logger.Info, Logger.Progress);
        var report = Checkpoint.LoadStateDict(Module, ckpt.StateDict, strict);
        if (report.Message is { } message) Logger.Warning(message);
        return report;
    }

    /// <summary>
    /// mmcv's <c>runner.resume</c>: weights, epoch and iteration from meta, <c>hook_msgs</c>, and (by default) the
    /// optimizer state with its momentum buffers and each group's lr / initial_lr, so the LR schedule continues exactly.
    /// </summary>
    public virtual void Resume(string path, bool resumeOptimizer = true)
    {
        Logger.Info($"load checkpoint from {ModelZoo.Describe(path)}");
        using var ckpt = Checkpoint.Load(path, Logger.Info, Logger.Progress);
        var report = Checkpoint.LoadStateDict(Module, ckpt.StateDict);
        if (report.Message is { } message) Logger.Warning(message);
        if (ckpt.Epoch is null || ckpt.Iter is null)
            throw new DetSharpException($"{path} has no meta epoch/iter, so training cannot resume from it; use load_from to start from its weights.");
        Epoch = ckpt.Epoch.Value;
        Iter = ckpt.Iter.Value;
        var meta = new OrderedDictionary<string, object?>();
        foreach (var (k, v) in ckpt.Meta!) meta[k.ToString()!] = v;
        // Keep this run's env/config/seed (mmcv replaces meta wholesale; hook_msgs is what matters).
        foreach (var (k, v) in Meta) if (k != "hook_msgs") meta[k] = v;
        Meta = meta;
        if (resumeOptimizer && ckpt.Optimizer is not null && Optimizer is not null)
            OptimizerStateDict.Load(Optimizer, ckpt.Optimizer, path);
        OnResumed(ckpt);
        Logger.Info($"resumed epoch {Epoch}, iter {Iter}");
    }

    protected virtual void OnResumed(LoadedCheckpoint checkpoint) { }

    /// <summary>
    /// One forward pass (mmcv's <c>run_iter</c> + MMDetection's <c>train_step</c>): losses parsed, logged into the
    /// buffer, and checked: a non-finite value stops training with the loss term and iteration named.
    /// </summary>
    protected void RunIter(IDataBatch batch, bool trainMode)
    {
        var losses = Model.ForwardTrain(batch);
        using var timed = Profiler.Scope(ProfilerSections.LossSum);
        var parsed = LossParser.Parse(losses);
        if (ProcessGroup.IsDistributed) parsed = parsed with { LogVars = AverageOverRanks(parsed.LogVars) };
        foreach (var (name, value) in parsed.LogVars)
        {
            if (double.IsFinite(value)) continue;
            string which = name == "loss" ? "the total loss" : $"'{name}'";
            string where = ByEpoch ? $"epoch {Epoch + 1}, iteration {InnerIter + 1} (global iteration {Iter + 1})" : $"iteration {Iter + 1}";
            string what = double.IsNaN(value) ? "NaN" : "infinite";
            throw new TrainingDivergedException(
                $"{which} became {what} at {where}{(trainMode ? "" : " of validation")}; training stopped before the update, and checkpoints already saved in {WorkDir} are intact. "
                + "Lower optimizer.lr (for few GPUs/images per batch, or set auto_scale_lr), lengthen lr_config.warmup_iters, "
                + "or clip gradients with optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)).");
        }
        LogBuffer.Update(parsed.LogVars, batch.NumSamples);
        Outputs = new IterOutputs(parsed.Loss, parsed.LogVars, batch.NumSamples);
    }

    /// <summary>
    /// MMDetection's <c>_parse_losses</c> in a distributed run: each logged value averaged over the ranks, so the log shows
    /// the whole batch and a loss that diverged on one rank stops every rank at the same iteration.
    /// </summary>
    private List<KeyValuePair<string, double>> AverageOverRanks(IReadOnlyList<KeyValuePair<string, double>> logVars)
    {
        var values = logVars.Select(kv => kv.Value).ToArray();
        ProcessGroup.AllReduceSum(values);
        return logVars.Select((kv, i) => new KeyValuePair<string, double>(kv.Key, values[i] / ProcessGroup.WorldSize)).ToList();
    }

    // Hook dispatch helpers for subclasses.
    protected static void CheckWorkflow(IReadOnlyList<IBatchSource> loaders, IReadOnlyList<(string Mode, int Count)> workflow)
    {
        if (loaders.Count != workflow.Count)
            throw new DetSharpException($"workflow has {workflow.Count} phases but {loaders.Count} data loaders were given.");
    }

    /// <summary>mmcv's run header: host and work dir, the hooks in order, the workflow and the length of the run.</summary>
    protected void LogStart(IReadOnlyList<(string Mode, int Count)> workflow, string max)
    {
        Logger.Info($"Start running, host: {Environment.UserName}@{Environment.MachineName}, work_dir: {WorkDir}");
        Logger.Info($"Hooks will be executed in the following order:\n{HookInfo()}");
        Logger.Info($"workflow: [{string.Join(", ", workflow.Select(w => $"('{w.Mode}', {w.Count})"))}], max: {max}");
    }

    protected void CallBeforeRun() => CallHook(h => h.BeforeRun(this));

    protected void CallAfterRun() => CallHook(h => h.AfterRun(this));
}
