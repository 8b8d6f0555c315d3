using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;

namespace DetSharp.Tests.Engine;

/// <summary>train_detector end to end with the tiny model swapped in: the work dir holds what MMDetection's does; auto-resume continues.</summary>
public class TrainDetectorTests
{
    private static readonly TrainComponents Tiny = new()
    {
        BuildModel = _ => new TinyDetector(seed: 2),
        BuildLoader = (_, _, _, _) => new TinyBatchSource(count: 3, classes: ["a", "b"]),
        BuildEvaluator = (_, _) => _ => new EvalResult([new("bbox_mAP", 0.5), new("bbox_mAP_copypaste", "0.500 0.600 0.700 0.100 0.200 0.300")], 2),
    };

    private const string Extra = """
        model = dict(type='TinyDetector')
        data = dict(samples_per_gpu=2, workers_per_gpu=0, train=dict(type='TinyDataset'), val=dict(type='TinyDataset'))
        evaluation = dict(interval=1, metric='bbox')
        seed = 5
        """;

    [Fact]
    public void Work_dir_holds_config_dump_logs_and_checkpoints_and_auto_resume_continues()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Extra);
        string workDir = Path.Combine(dir.Path, "work");

        TrainDetector.Train(cfg, new TrainOptions { WorkDir = workDir }, Tiny);

        var files = Directory.GetFiles(workDir).Select(Path.GetFileName).ToList();
        Assert.Contains("tiny_config.py", files);
        Assert.Contains("epoch_1.pth", files);
        Assert.Contains("epoch_3.pth", files);
        Assert.Contains("latest.pth", files);
        Assert.Single(files, f => f!.EndsWith(".log.json", StringComparison.Ordinal));
        Assert.Single(files, f => f!.EndsWith(".log", StringComparison.Ordinal));
        var dumped = Config.Config.FromFile(Path.Combine(workDir, "tiny_config.py"));
        Assert.True(ConfigValue.DeepEquals(cfg.Dict, dumped.Dict));
        string log = File.ReadAllText(Directory.GetFiles(workDir, "*.log").Single());
        Assert.Contains(" - mmdet - INFO - Environment info:\n------------------------------------------------------------\n", log);
        Assert.Contains("Set random seed to 5, deterministic: False", log);
        Assert.Contains("Epoch(val) [3][2]\tbbox_mAP: 0.5000, bbox_mAP_copypaste: 0.500 0.600 0.700 0.100 0.200 0.300", log);
        string firstJson = File.ReadLines(Directory.GetFiles(workDir, "*.log.json").Single()).First();
        Assert.StartsWith("{\"env_info\": \"", firstJson);
        Assert.Contains("\"seed\": 5, \"exp_name\": \"tiny_config.py\"}", firstJson);

        using (var last = Checkpoint.Load(Path.Combine(workDir, "latest.pth")))
        {
            Assert.Equal(3, last.Epoch);
            Assert.Equal(9, last.Iter);
            Assert.Equal(["a", "b"], last.Classes);
            Assert.Equal(5L, last.Meta!["seed"]);
            Assert.Contains("optimizer = dict(", (string)last.Meta["config"]!);
        }

        // --auto-resume with max_epochs raised to 4 picks up latest.pth and trains one more epoch.
        var more = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig.Replace("max_epochs=3", "max_epochs=4") + "\n" + Extra);
        var (runner, loaders, workflow) = TrainDetector.Prepare(more, new TrainOptions { WorkDir = workDir, AutoResume = true, NoValidate = true }, Tiny);
        Assert.Equal(3, runner.Epoch);
        Assert.Equal(9, runner.Iter);
        runner.Run(loaders, workflow);
        runner.Logger.Dispose();
        using var resumed = Checkpoint.Load(Path.Combine(workDir, "latest.pth"));
        Assert.Equal(4, resumed.Epoch);
        Assert.Null(runner.GetHook<EvalHook>());
    }

    [Fact]
    public void Work_dir_defaults_follow_mmdetection()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, "work_dir = '/tmp/from_cfg'\n");
        Assert.Equal("/tmp/cli", TrainDetector.ResolveWorkDir(cfg, "/tmp/cli"));
        Assert.Equal("/tmp/from_cfg", TrainDetector.ResolveWorkDir(cfg, null));
        var plain = EngineTestSupport.LoadConfig(dir.Path, "x = 1\n");
        Assert.Equal(Path.GetFullPath(Path.Combine("work_dirs", "tiny_config")), TrainDetector.ResolveWorkDir(plain, null));
    }

    [Fact]
    public void An_unregistered_model_type_is_reported_by_the_registry()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Extra.Replace("TinyDetector", "MaskRCNNX"));

        var e = Assert.Throws<DetSharpException>(() => TrainDetector.Train(cfg, new TrainOptions { WorkDir = Path.Combine(dir.Path, "w") }));

        Assert.Contains("'MaskRCNNX' is not registered in the MODELS registry", e.Message);
        string log = File.ReadAllText(Directory.GetFiles(Path.Combine(dir.Path, "w"), "*.log").Single());
        Assert.Contains(" - mmdet - ERROR - ", log);
    }

    [Fact]
    public void Runner_and_hooks_come_from_their_registries_in_mmcvs_order()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Extra);

        var (runner, _, _) = TrainDetector.Prepare(cfg, new TrainOptions { WorkDir = Path.Combine(dir.Path, "w") }, Tiny);
        runner.Logger.Dispose();

        Assert.IsType<DetSharp.Engine.Runners.EpochBasedRunner>(runner);
        Assert.Equal(["StepLrUpdaterHook", "OptimizerHook", "CheckpointHook", "NumClassCheckHook", "IterTimerHook", "EvalHook", "TextLoggerHook"],
            runner.Hooks.Select(h => h.GetType().Name));
    }

    [Theory]
    [InlineData("runner = dict(type='EpochBasedRuner', max_epochs=1)", "'EpochBasedRuner' is not registered in the RUNNERS registry. Did you mean 'EpochBasedRunner'")]
    [InlineData("optimizer = dict(type='SDG', lr=0.01)", "'SDG' is not registered in the OPTIMIZERS registry. Did you mean 'SGD'")]
    [InlineData("lr_config = dict(policy='CosineAnealing', min_lr=0)", "'CosineAnealingLrUpdaterHook' is not registered in the HOOKS registry. Did you mean 'CosineAnnealingLrUpdaterHook'")]
    [InlineData("checkpoint_config = dict(intervals=1)", "CheckpointHook got an unexpected argument 'intervals'. Did you mean 'interval'")]
    public void Unknown_types_and_arguments_name_the_closest_registered_ones(string line, string message)
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Extra + "\n" + line + "\n");

        var e = Assert.Throws<DetSharpException>(() => TrainDetector.Prepare(cfg, new TrainOptions { WorkDir = Path.Combine(dir.Path, "w") }, Tiny));

        Assert.Contains(message, e.Message);
    }
}
