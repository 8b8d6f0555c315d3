using DetSharp.Apis;
using DetSharp.Benchmarks;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Tests.Engine;

namespace DetSharp.Tests.Benchmarks;

/// <summary><c>detsharp benchmark train</c> times the iterations <c>detsharp train</c> runs, not a look-alike loop.</summary>
public class TrainBenchmarkTests
{
    // High lr, long warm-up, tight clipping and a load_from checkpoint: a loop that skipped any of them would
    // log different losses or lrs (without warm-up and clipping the real configs diverge to NaN in three iterations).
    private const string Overrides = """
        optimizer = dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.0001)
        optimizer_config = dict(grad_clip=dict(max_norm=0.05, norm_type=2))
        lr_config = dict(policy='step', warmup='linear', warmup_iters=4, warmup_ratio=0.01, step=[1])
        runner = dict(type='EpochBasedRunner', max_epochs=3)
        model = dict(type='TinyDetector')
        data = dict(samples_per_gpu=2, workers_per_gpu=0, train=dict(type='TinyDataset'))
        """;

    [Fact]
    public void Benchmark_follows_load_from_warm_up_step_and_grad_clip_like_train()
    {
        using var dir = new TempDir();
        string source = Path.Combine(dir.Path, "source.pth");
        Checkpoint.Save(source, new TinyDetector(seed: 7), null, []);
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Overrides + $"\nload_from = '{source}'\n");
        var components = new TrainComponents
        {
            BuildModel = _ => new TinyDetector(seed: 2),
            BuildLoader = (_, _, _, _) => new TinyBatchSource(count: 3),
        };

        var (runner, loaders, workflow) = TrainDetector.Prepare(cfg, new TrainOptions { WorkDir = Path.Combine(dir.Path, "work"), NoValidate = true }, components);
        var recorder = new LossRecorder();
        runner.RegisterHook(recorder, HookPriority.Lowest);
        runner.Run(loaders, workflow);
        runner.Logger.Dispose();

        var bench = TrainBenchmark.Run(cfg, iters: 5, TextWriter.Null, components: components);

        Assert.Equal(6, bench.Losses.Count); // the untimed warm-up iteration and the 5 timed ones
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(recorder.Records[i].Lr, bench.Lrs[i], 12);
            Assert.Equal(recorder.Records[i].Vars.First(v => v.Key == "loss").Value, bench.Losses[i], 5);
        }
        // warm-up 0.5 * (1 - (1 - i/4) * 0.99) in epoch 0, then the step at epoch 1 (0.05) with warm-up still on at iteration 3
        Assert.Equal(0.5 * 0.01, bench.Lrs[0], 12);
        Assert.Equal(0.5 * (1 - 0.5 * 0.99), bench.Lrs[2], 12);
        Assert.Equal(0.05 * (1 - 0.25 * 0.99), bench.Lrs[3], 12);
        Assert.Equal(0.05, bench.Lrs[4], 12);
        Assert.True(double.IsFinite(bench.LastLoss));
        Assert.Equal(5, bench.Iters);
        Assert.InRange(bench.DataTime, 0, bench.SecondsPerIter);
    }

    [Fact]
    public void Benchmark_writes_nothing_into_the_work_dir_or_the_checkpoint_folder_of_the_config()
    {
        using var dir = new TempDir();
        string workDir = Path.Combine(dir.Path, "user_work"), ckptDir = Path.Combine(dir.Path, "user_ckpts");
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Overrides
            + $"\nwork_dir = '{workDir}'\ncheckpoint_config = dict(interval=1, out_dir='{ckptDir}')\n");
        var components = new TrainComponents
        {
            BuildModel = _ => new TinyDetector(seed: 2),
            BuildLoader = (_, _, _, _) => new TinyBatchSource(count: 3),
        };

        var bench = TrainBenchmark.Run(cfg, iters: 4, TextWriter.Null, components: components);

        Assert.Equal(5, bench.Losses.Count); // across the end of the first epoch, where a checkpoint would be saved
        Assert.False(Directory.Exists(workDir));
        Assert.False(Directory.Exists(ckptDir));
        Assert.Equal(ckptDir, cfg.Get<string>("checkpoint_config.out_dir")); // the caller's config is left as it was
    }
}
