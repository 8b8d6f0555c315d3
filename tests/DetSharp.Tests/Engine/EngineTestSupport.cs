using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Optimizers;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using DetSharp.Registry;

namespace DetSharp.Tests.Engine;

/// <summary>A temporary work dir, removed afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("detsharp-engine-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Records the logged scalars of every training iteration (runs after all other hooks).</summary>
public sealed class LossRecorder : Hook
{
    public List<(int Epoch, int Iter, IReadOnlyList<KeyValuePair<string, double>> Vars, double Lr)> Records { get; } = [];

    public override void AfterTrainIter(BaseRunner runner) =>
        Records.Add((runner.Epoch, runner.Iter, runner.Outputs!.LogVars, runner.CurrentLr()[0]));
}

/// <summary>Calls an action before chosen iterations (to break the model mid-run).</summary>
public sealed class BeforeIterAction(Action<BaseRunner> action) : Hook
{
    public override void BeforeTrainIter(BaseRunner runner) => action(runner);
}

public static class EngineTestSupport
{
    public const string TinyConfig = """
        optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001)
        optimizer_config = dict(grad_clip=None)
        lr_config = dict(policy='step', warmup='linear', warmup_iters=3, warmup_ratio=0.1, step=[2])
        runner = dict(type='EpochBasedRunner', max_epochs=3)
        checkpoint_config = dict(interval=1)
        log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook')])
        custom_hooks = [dict(type='NumClassCheckHook')]
        workflow = [('train', 1)]
        """;

    public static Config.Config LoadConfig(string workDir, string text = TinyConfig) =>
        Config.Config.FromText(text, System.IO.Path.Combine(workDir, "tiny_config.py"));

    public static BaseRunner MakeRunner<TModel>(string workDir, TModel model, Config.Config cfg, RunLogger? logger = null,
        OrderedDictionary<string, object?>? meta = null, IReadOnlyList<string>? classes = null)
        where TModel : TorchSharp.torch.nn.Module, DetSharp.Engine.ITrainableDetector
    {
        ComponentRegistration.EnsureRegistered();
        var optimizer = OptimizerBuilder.Build(model, cfg.Get<ConfigDict>("optimizer"));
        BaseRunner runner = cfg.Get<string>("runner.type") == "IterBasedRunner"
            ? new IterBasedRunner(model, optimizer, workDir, logger ?? RunLogger.Null, meta, maxIters: cfg.Get<int>("runner.max_iters"))
            : new EpochBasedRunner(model, optimizer, workDir, logger ?? RunLogger.Null, meta, maxEpochs: cfg.Get<int>("runner.max_epochs"));
        runner.RegisterTrainingHooks(cfg.Get<ConfigDict?>("lr_config", null), cfg.Get<ConfigDict?>("optimizer_config", null),
            TrainDetector.CheckpointConfig(cfg, classes ?? ["a", "b"]), cfg.Get<ConfigDict?>("log_config", null), cfg.Get<List<ConfigDict>?>("custom_hooks", null));
        return runner;
    }
}
