using System.Globalization;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Distributed;
using DetSharp.Engine;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Optimizers;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Utils;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace DetSharp.Apis;

/// <summary>
/// The command-line switches of MMDetection's tools/train.py, and what an application adds: an <see cref="ILogger"/>, a
/// progress receiver and a cancellation token.
/// <para>Thread safety: an immutable record; share it freely.</para>
/// </summary>
public sealed record TrainOptions
{
    public string? WorkDir { get; init; }

    public string? ResumeFrom { get; init; }

    public bool AutoResume { get; init; }

    public bool NoValidate { get; init; }

    public int? Seed { get; init; }

    public bool Deterministic { get; init; }

    public bool AutoScaleLr { get; init; }

    /// <summary>"cpu" or "cuda".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Where log lines go besides the log file (null: nowhere).</summary>
    public TextWriter? Console { get; init; }

    /// <summary>Show the live progress line (an interactive terminal).</summary>
    public bool Interactive { get; init; }

    /// <summary>Gets every line of the text log (environment, config, <c>Epoch [1][50/930]</c> lines, evaluation) at its level.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Gets each training iteration (epoch, iterations done of the total, losses) after its optimizer step.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>
    /// Stops training at the next iteration boundary: <see cref="TrainDetector.Train"/> writes <c>iter_N.pth</c> (and
    /// <c>latest.pth</c>), from which <c>resume_from</c> / <c>--auto-resume</c> continue with iteration N + 1, and throws
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>
/// How <see cref="TrainDetector"/> gets a model, loaders and evaluation. The defaults build <c>model</c> through the MODELS
/// registry and <c>data.train</c>/<c>data.val</c> through the DATASETS registry (the dataset must be an
/// <see cref="IBatchSource"/> or <see cref="IBatchSourceFactory"/>); tests and embedding code can swap them.
/// <para>Thread safety: immutable once built; the factories are called on the thread that prepares the run.</para>
/// </summary>
public sealed class TrainComponents
{
    public TrainComponents() => BuildLoader = (cfg, datasetCfg, train, seed) => DefaultLoader(cfg, datasetCfg, train, seed, ProcessGroup);

    /// <summary>
    /// The ranks of the run (<c>--launcher</c>): the default loader gives each rank its share, the model starts from rank 0's
    /// weights, the gradients are averaged over the ranks, and only rank 0 writes logs and checkpoints.
    /// </summary>
    public IProcessGroup ProcessGroup { get; init; } = SingleProcessGroup.Instance;

    public Func<ConfigDict, ITrainableDetector> BuildModel { get; init; } = cfg => Registries.Models.Build<ITrainableDetector>(cfg);

    /// <summary>(config, dataset dict, is the training loader, seed) → loader.</summary>
    public Func<Config.Config, ConfigDict, bool, int, IBatchSource> BuildLoader { get; init; }

    /// <summary>(config, model) → the evaluation the EvalHook runs, or null when evaluation is not available.</summary>
    public Func<Config.Config, ITrainableDetector, Func<BaseRunner, EvalResult>?> BuildEvaluator { get; init; } = DefaultEvaluator;

    private static IBatchSource DefaultLoader(Config.Config cfg, ConfigDict datasetCfg, bool train, int seed, IProcessGroup group)
    {
        ComponentRegistration.EnsureRegistered();
        int samples = train ? cfg.Get("data.samples_per_gpu", 2) : cfg.Get("data.val_dataloader.samples_per_gpu", 1);
        int workers = cfg.Get("data.workers_per_gpu", 2);
        string type = datasetCfg.Get("type", "");
        if (Registries.Datasets.TypeOf(type) is { } registered && !typeof(IDetDataset).IsAssignableFrom(registered))
        {
            var built = Registries.Datasets.Build(datasetCfg);
            if (group.IsDistributed)
                throw new DetSharpException($"'{datasetCfg.Path}': {built.GetType().Name} makes its own batches, which cannot be shared out among the ranks of a distributed run; train it with --launcher none.");
            return built switch
            {
                IBatchSource source => source,
                IBatchSourceFactory factory => factory.CreateLoader(samples, workers, shuffle: train, seed),
                _ => throw new DetSharpException($"'{datasetCfg.Path}': {built.GetType().Name} cannot be loaded in batches (it implements neither IBatchSource nor IBatchSourceFactory)."),
            };
        }
        var dataset = DatasetBuilder.Build(datasetCfg);
        TrainPreflight.Check(dataset, string.IsNullOrEmpty(datasetCfg.Path) ? "data.train" : datasetCfg.Path);
        return new DetBatchSource(dataset, samples, workers, shuffle: train, seed, group.Rank, group.WorldSize);
    }

    /// <summary>
    /// The EvalHook's evaluation: <c>data.val</c> in test mode, batch 1, through <see cref="Inference"/>, then
    /// <see cref="DatasetEvaluation"/> with <c>evaluation.metric</c> and the other evaluate arguments of <c>evaluation</c>.
    /// </summary>
    public static Func<BaseRunner, EvalResult>? DefaultEvaluator(Config.Config cfg, ITrainableDetector model)
    {
        if (model is not BaseDetector detector || cfg.Get<ConfigDict?>("data.val", null) is not { } valCfg) return null;
        var evalCfg = cfg.Get<ConfigDict?>("evaluation", null) ?? new ConfigDict();
        var metrics = DatasetEvaluation.Metrics(evalCfg.TryGetValue("metric", out var m) ? m : null);
        var kwargs = evalCfg.Where(kv => !DatasetEvaluation.HookOnlyKeys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        CocoDataset? dataset = null;
        return runner =>
        {
            dataset ??= DatasetBuilder.Build(valCfg, new Dictionary<string, object?> { ["test_mode"] = true }) as CocoDataset
                        ?? throw new DetSharpException("evaluation during training needs data.val to be a CocoDataset (or a subclass such as CityscapesDataset).");
            var (options, prefix) = DatasetEvaluation.Options(metrics, kwargs, dataset.CatIds);
            // Distributed: every rank tests its share, rank 0 evaluates (DistEvalHook); the others log no metrics.
            if (MultiGpuTest.Run(new LibtorchBackend(detector), dataset, runner.ProcessGroup) is not { } results) return new EvalResult([], dataset.Count);
            var evaluated = DatasetEvaluation.Evaluate(dataset, results, options, prefix);
            runner.Logger.Info(evaluated.Log.TrimEnd('\n'));
            return new EvalResult(evaluated.Values.Select(kv => new KeyValuePair<string, object?>(kv.Key, kv.Value)).ToList(), dataset.Count);
        };
    }
}

/// <summary>
/// MMDetection's tools/train.py + <c>mmdet.apis.train_detector</c>: work dir and config dump, log files, env and seed,
/// model, loaders, optimizer (with <c>auto_scale_lr</c>), runner and its hooks (lr, optimizer, checkpoint, timer,
/// loggers, custom hooks, evaluation), then <c>resume_from</c> / <c>--auto-resume</c> / <c>load_from</c>, and the run.
/// <para>Thread safety: stateless; one run per work dir at a time (a second one stops at the work-dir lock). A run uses
/// libtorch's threads, so concurrent runs in one process share the cores.</para>
/// </summary>
public static class TrainDetector
{
    /// <summary><c>--work-dir</c> &gt; <c>cfg.work_dir</c> &gt; <c>./work_dirs/&lt;config file name without extension&gt;</c>.</summary>
    public static string ResolveWorkDir(Config.Config cfg, string? cliWorkDir) =>
        Path.GetFullPath(cliWorkDir
                         ?? cfg.Get<string?>("work_dir", null)
                         ?? Path.Combine("work_dirs", Path.GetFileNameWithoutExtension(cfg.Filename)));

    /// <summary>Checks the device: CUDA must be present in the libtorch this build carries.</summary>
    public static void CheckDevice(string device)
    {
        if (device == "cpu") return;
        if (device != "cuda" && !device.StartsWith("cuda:", StringComparison.Ordinal))
            throw new DetSharpException($"--device '{device}' is not supported; use cpu or cuda.");
        if (!torch.cuda.is_available())
            throw new DetSharpException(
                "--device cuda: CUDA is not available. This DetSharp build carries the CPU libtorch (libtorch-cpu-linux-x64); "
                + "a CUDA run needs the CUDA libtorch package in its place and an NVIDIA driver. Use --device cpu to train on the CPU.");
    }

    /// <summary>Sets up everything and returns the runner without running it (the loaders come with it).</summary>
    public static (BaseRunner Runner, IReadOnlyList<IBatchSource> Loaders, IReadOnlyList<(string, int)> Workflow) Prepare(
        Config.Config cfg, TrainOptions options, TrainComponents? components = null)
    {
        components ??= new TrainComponents();
        ComponentRegistration.EnsureRegistered();
        CheckDevice(options.Device);
        string workDir = ResolveWorkDir(cfg, options.WorkDir);
        string dumpName = Path.GetFileName(cfg.Filename);
        string timestamp = DateTime.Now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture);
        if (components.ProcessGroup.Rank != 0)
        {
            // mmcv's master_only: the other ranks of a distributed run write no log, config dump or checkpoint, and take
            // no work-dir lock (rank 0 holds it for the run).
            var quiet = RunLogger.Null;
            try
            {
                return Prepare(cfg, options, components, workDir, dumpName, timestamp, quiet);
            }
            catch
            {
                quiet.Dispose();
                throw;
            }
        }
        // Before anything is written there: a second run into this work dir stops here. The lock lives as long as the logger.
        var workDirLock = WorkDirLock.Acquire(workDir);
        RunLogger logger;
        IReadOnlyList<string> stale;
        try
        {
            stale = CheckpointTempFiles.RemoveStale(workDir);
            File.WriteAllText(Path.Combine(workDir, dumpName), dumpName.EndsWith(".py", StringComparison.Ordinal) ? cfg.DumpPython() : cfg.DumpJson());
            logger = new RunLogger(Path.Combine(workDir, $"{timestamp}.log"), options.Console, options.Interactive, logger: options.Logger);
        }
        catch
        {
            workDirLock.Dispose();
            throw;
        }
        logger.Owns(workDirLock);
        try
        {
            foreach (var file in stale) logger.Info($"removed {file}, a temporary checkpoint left by an interrupted run");
            return Prepare(cfg, options, components, workDir, dumpName, timestamp, logger);
        }
        catch (Exception e)
        {
            logger.Error(e.Message, toConsole: false);
            logger.Dispose();
            throw;
        }
    }

    private static (BaseRunner Runner, IReadOnlyList<IBatchSource> Loaders, IReadOnlyList<(string, int)> Workflow) Prepare(
        Config.Config cfg, TrainOptions options, TrainComponents components, string workDir, string dumpName, string timestamp, RunLogger logger)
    {
        string dash = new string('-', 60) + "\n";
        string envInfo = string.Join("\n", CollectEnv.Collect().Select(e => $"{e.Key}: {e.Value}"));
        logger.Info("Environment info:\n" + dash + envInfo + "\n" + dash);
        var group = components.ProcessGroup;
        logger.Info($"Distributed training: {(group.IsDistributed ? "True" : "False")}");
        if (group.IsDistributed) logger.Info($"world size {group.WorldSize}: rank 0 logs and checkpoints, every rank trains on its share of data.samples_per_gpu={cfg.Get("data.samples_per_gpu", 2)} images per iteration");
        string configText = cfg.DumpPython();
        logger.Info($"Config:\n{configText}");

        int seed = options.Seed ?? cfg.Get<int?>("seed", null) ?? SharedRandomSeed(group);
        logger.Info($"Set random seed to {seed}, deterministic: {(options.Deterministic ? "True" : "False")}");
        // Each rank its own stream for the random draws of training (samplers, dropout): seed + rank, as MMDetection's
        // per-rank seeds; the sampler's order and the initial weights are the same on every rank.
        torch.manual_seed(seed + group.Rank);
        if (torch.cuda.is_available()) torch.cuda.manual_seed_all(seed + group.Rank);
        if (options.Deterministic)
        {
            // TorchSharp 0.107 does not expose use_deterministic_algorithms or cudnn.deterministic; libtorch's CPU kernels
            // are deterministic for a fixed thread count, and TF32 (the main CUDA source of run-to-run drift) is switched off.
            torch.backends.cudnn.allow_tf32 = false;
        }

        var meta = new OrderedDictionary<string, object?>
        {
            ["env_info"] = envInfo,
            ["config"] = configText,
            ["seed"] = (long)seed,
            ["exp_name"] = dumpName,
        };

        var model = components.BuildModel(cfg.Get<ConfigDict>("model"));
        var module = (torch.nn.Module)model;
        // MMDetection's train.py calls model.init_weights(): apply init_cfg 'Pretrained' entries (a backbone from
        // nuget://resnet18-imagenet, a torchvision/.pth file, ...) before load_from/resume_from overwrite weights.
        Models.Weights.PretrainedInit.InitWeights(module, message => logger.Info(message), logger.Progress);
        if (options.Device != "cpu") module.to(torch.CUDA);
        logger.Info($"Model: {module.GetType().Name} with {module.parameters().Sum(p => p.numel())} parameters");
        // SyncBN / MMSyncBN layers take their training statistics over this run's ranks (MMDetection's world group).
        if (group.IsDistributed && Models.Common.SyncBatchNorm.UseProcessGroup(module, group) is > 0 and var synced)
            logger.Info($"SyncBN: {synced} layers share their batch statistics over the {group.WorldSize} ranks");
        var mixedPrecision = MixedPrecision.FromConfig(cfg, options.Device == "cpu" ? DeviceType.CPU : DeviceType.CUDA, logger.Info);
        if (mixedPrecision is not null)
        {
            // wrap_fp16_model: the model's forward passes (training, validation, EvalHook) autocast.
            if (model is not BaseDetector detector)
                throw new DetSharpException($"fp16 / mixed_precision: {model.GetType().Name} is not a detector that can autocast; remove the setting.");
            detector.AutocastDtype = mixedPrecision.Dtype;
        }

        // DetSharp extension: the backbone and neck in channels-last memory format on the CPU (BaseDetector.UseChannelsLast);
        // channels_last=False keeps the NCHW layout.
        if (model is BaseDetector cl && ChannelsLast.Enabled(cfg) && cl.UseChannelsLast())
            logger.Info("channels-last: the backbone and neck run in NHWC memory format (channels_last=False turns it off)");
        // DetSharp extension: frozen BatchNorms (eval mode, requires_grad=False) train as their affine map, in less memory.
        if (FrozenBatchNorm.Enabled(cfg))
            logger.Info($"frozen_bn_affine: {FrozenBatchNorm.Use((torch.nn.Module)model)} BatchNorm layers apply their affine map when frozen");

        var workflow = ReadWorkflow(cfg);
        var loaders = new List<IBatchSource> { components.BuildLoader(cfg, cfg.Get<ConfigDict>("data.train"), true, seed) };
        if (workflow.Count == 2)
        {
            var val = cfg.Get<ConfigDict>("data.val").Clone();
            val["pipeline"] = ConfigValue.DeepClone(cfg.Dict.Get<object>("data.train.pipeline"));
            loaders.Add(components.BuildLoader(cfg, val, true, seed));
        }

        var optimizerCfg = cfg.Get<ConfigDict>("optimizer").Clone();
        if (OptimizerBuilder.AutoScaleLr(optimizerCfg.Get<double>("lr"), cfg.Get<ConfigDict?>("auto_scale_lr", null), options.AutoScaleLr,
                group.WorldSize, cfg.Get("data.samples_per_gpu", 2)) is { } scaled)
        {
            optimizerCfg["lr"] = scaled.Lr;
            logger.Info(scaled.Message);
        }
        var optimizer = OptimizerBuilder.Build(module, optimizerCfg);

        var runnerCfg = cfg.Get<ConfigDict?>("runner", null);
        if (runnerCfg is null)
        {
            int total = cfg.Get("total_epochs", 12);
            logger.Warning("config is now expected to have a `runner` section, please set `runner` in your config.");
            runnerCfg = new ConfigDict { ["type"] = "EpochBasedRunner", ["max_epochs"] = (long)total };
        }
        ComponentRegistration.EnsureRegistered();
        var runner = Registries.Runners.Build<BaseRunner>(runnerCfg, new Dictionary<string, object?>
        {
            ["model"] = model, ["optimizer"] = optimizer, ["work_dir"] = workDir, ["logger"] = logger, ["meta"] = meta,
        });
        runner.Timestamp = timestamp;
        runner.ProcessGroup = group;
        // Checkpoints and log files come from rank 0 only (mmcv's master_only hooks): the other ranks register neither.
        bool master = group.Rank == 0;
        runner.RegisterTrainingHooks(cfg.Get<ConfigDict?>("lr_config", null), Fp16OptimizerConfig(cfg.Get<ConfigDict?>("optimizer_config", null), mixedPrecision),
            master ? CheckpointConfig(cfg, loaders[0].Classes) : null, master ? cfg.Get<ConfigDict?>("log_config", null) : null,
            cfg.Get<List<ConfigDict>?>("custom_hooks", null));

        if (!options.NoValidate)
        {
            var evaluator = components.BuildEvaluator(cfg, model);
            if (evaluator is null)
            {
                logger.Warning("evaluation during training is not available for this model/dataset yet; training runs without EvalHook (as with --no-validate).");
            }
            else
            {
                var evalCfg = cfg.Get<ConfigDict?>("evaluation", null) ?? new ConfigDict();
                runner.RegisterHook(new EvalHook(evaluator, evalCfg.Get("interval", 1), evalCfg.Get<int?>("start", null), runner.ByEpoch,
                    evalCfg.Get<string?>("save_best", null), evalCfg.Get<string?>("rule", null), EvalHook.DynamicIntervalsFrom(evalCfg)), HookPriority.Low);
            }
        }

        string? resumeFrom = options.ResumeFrom ?? cfg.Get<string?>("resume_from", null);
        if (resumeFrom is null && (options.AutoResume || cfg.Get("auto_resume", false)))
        {
            resumeFrom = Checkpoint.FindLatest(workDir, logger.Warning);
            if (resumeFrom is null) logger.Warning($"--auto-resume: no checkpoint found in {workDir}; starting from scratch.");
        }
        if (options.Progress is not null) runner.RegisterHook(new TrainProgressHook(options.Progress));
        if (options.CancellationToken.CanBeCanceled) runner.RegisterHook(new CancellationHook(options.CancellationToken));
        if (resumeFrom is not null) runner.Resume(resumeFrom);
        else if (cfg.Get<string?>("load_from", null) is { } loadFrom) runner.LoadCheckpoint(loadFrom);
        // DDP's start: every rank from rank 0's parameters and buffers (the same checkpoint loaded everywhere stays as it is).
        DistributedDataParallel.BroadcastState(module, group);
        return (runner, loaders, workflow);
    }

    /// <summary>
    /// MMDetection's train_detector with <c>fp16</c>: float16 makes <c>optimizer_config</c> an <c>Fp16OptimizerHook</c>
    /// with its <c>loss_scale</c>; bfloat16 and float32 keep the config's optimizer hook.
    /// </summary>
    private static ConfigDict? Fp16OptimizerConfig(ConfigDict? optimizerConfig, MixedPrecision? mixedPrecision)
    {
        if (mixedPrecision?.LossScale is not { } lossScale) return optimizerConfig;
        var fp16 = optimizerConfig?.Clone() ?? new ConfigDict();
        string type = fp16.Get("type", "OptimizerHook");
        if (type is not ("OptimizerHook" or "Fp16OptimizerHook"))
            throw new DetSharpException($"fp16: optimizer_config type '{type}' cannot be combined with float16 loss scaling; remove its type or the fp16 setting.");
        fp16["type"] = "Fp16OptimizerHook";
        fp16["loss_scale"] = lossScale;
        return fp16;
    }

    /// <summary>MMDetection's <c>init_random_seed</c>: a random seed drawn on rank 0 and sent to every rank.</summary>
    private static int SharedRandomSeed(IProcessGroup group)
    {
        var bytes = BitConverter.GetBytes(Random.Shared.Next(int.MaxValue));
        group.Broadcast(bytes);
        return BitConverter.ToInt32(bytes);
    }

    /// <summary>Prepares and runs training; returns the work dir.</summary>
    public static string Train(Config.Config cfg, TrainOptions options, TrainComponents? components = null)
    {
        var (runner, loaders, workflow) = Prepare(cfg, options, components);
        try
        {
            runner.Run(loaders, workflow);
            if (options.CancellationToken.IsCancellationRequested)
            {
                var checkpointHook = runner.GetHook<CheckpointHook>();
                string path = runner.SaveResumeCheckpoint(checkpointHook?.OutDir ?? runner.WorkDir, checkpointHook?.Meta);
                runner.Logger.Info($"training cancelled after iteration {runner.Iter}; saved {path}: resume_from (or --auto-resume) continues with iteration {runner.Iter + 1}");
                throw new OperationCanceledException($"training cancelled after iteration {runner.Iter}; resume from {path}.", options.CancellationToken);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            // The log keeps why the run stopped (a diverged loss, a full disk while checkpointing, ...); a log that can no
            // longer be written must not hide that error.
            try { runner.Logger.Error(e.Message, toConsole: false); } catch (IOException) { }
            throw;
        }
        finally
        {
            runner.Logger.Dispose();
        }
        return runner.WorkDir;
    }

    /// <summary><c>workflow=[('train', 1)]</c> or <c>[('train', 1), ('val', 1)]</c>.</summary>
    public static List<(string Mode, int Count)> ReadWorkflow(Config.Config cfg)
    {
        var raw = cfg.Get<List<object>?>("workflow", null);
        if (raw is null) return [("train", 1)];
        var flows = new List<(string, int)>();
        foreach (var item in raw)
        {
            if (item is not IList<object?> { Count: 2 } pair || pair[0] is not string mode || pair[1] is not long count)
                throw new DetSharpException($"workflow entries must be ('train', n) or ('val', n) tuples, got {ConfigValue.Describe(item)}.");
            flows.Add((mode, (int)count));
        }
        if (flows.Count is 0 or > 2 || flows[0].Item1 != "train" || (flows.Count == 2 && flows[1].Item1 != "val"))
            throw new DetSharpException("workflow must be [('train', n)] or [('train', n), ('val', m)].");
        return flows;
    }

    /// <summary>
    /// <c>checkpoint_config</c> with MMDetection's checkpoint <c>meta</c> (its version and the dataset's CLASSES, which
    /// <c>detsharp test</c> and <c>infer</c> read back), as <c>train_detector</c> sets it; null when the config has none.
    /// </summary>
    public static ConfigDict? CheckpointConfig(Config.Config cfg, IReadOnlyList<string>? classes)
    {
        if (cfg.Get<ConfigDict?>("checkpoint_config", null) is not { } ckpt) return null;
        var withMeta = ckpt.Clone();
        withMeta["meta"] = new ConfigDict
        {
            ["detsharp_version"] = EngineInfo.DetSharpVersion,
            ["CLASSES"] = classes is null ? null : new PyTuple(classes.Cast<object?>().ToList()),
        };
        return withMeta;
    }
}
