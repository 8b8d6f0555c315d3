using System.Diagnostics;
using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Engine.Optimizers;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>
/// What <see cref="TrainBenchmark.Run"/> measured: times after the warm-up iteration; <paramref name="Losses"/> and
/// <paramref name="Lrs"/> for every iteration run, the warm-up one first.
/// </summary>
public sealed record TrainBenchmarkResult(int Iters, double SecondsPerIter, double DataTime, long PeakRssBytes,
    IReadOnlyList<double> Losses, IReadOnlyList<double> Lrs)
{
    public double LastLoss => Losses[^1];

    /// <summary>Seconds of each timed iteration (after the warm-up one), for robust statistics such as the median.</summary>
    public IReadOnlyList<double> IterSeconds { get; init; } = [];
}

/// <summary>
/// <c>detsharp benchmark train</c>: the training loop of a config for a few iterations, timing each (forward + backward +
/// clip + step) and the wait for its batch, and reporting the process's peak resident memory. It starts where
/// <c>detsharp train</c> starts (init_cfg pretrained weights, <c>load_from</c>, <c>lr_config</c> with its warm-up,
/// <c>optimizer_config.grad_clip</c>) because a run that diverges to NaN in its first iterations times the wrong work:
/// no positives reach the RoI heads. <c>load_from</c> a trained checkpoint times the late-training iterations, when
/// every cascade stage gets its full share of positives.
/// </summary>
public static class TrainBenchmark
{
    public static TrainBenchmarkResult Run(Config.Config cfg, int iters, TextWriter log, int seed = 0, TrainComponents? components = null)
    {
        if (iters < 1) throw new DetSharpException("--iters must be at least 1.");
        ComponentRegistration.EnsureRegistered();
        torch.manual_seed(seed);
        components ??= new TrainComponents();
        var model = components.BuildModel(cfg.Get<ConfigDict>("model"));
        var module = (nn.Module)model;
        Models.Weights.PretrainedInit.InitWeights(module, log.WriteLine);
        if (cfg.Get<string?>("load_from", null) is { } loadFrom)
        {
            using var ckpt = Engine.Checkpoints.Checkpoint.Load(loadFrom);
            var report = Engine.Checkpoints.Checkpoint.LoadStateDict(module, ckpt.StateDict, strict: false);
            log.WriteLine($"load_from {loadFrom}{(report.Message is { } m ? ": " + m : "")}");
        }
        module.train();
        var loader = components.BuildLoader(cfg, cfg.Get<ConfigDict>("data.train"), true, seed);
        var optimizer = OptimizerBuilder.Build(module, cfg.Get<ConfigDict>("optimizer"));
        var clipper = Engine.Hooks.OptimizerHook.FromConfig(cfg.Get<ConfigDict?>("optimizer_config", null));
        var runnerCfg = cfg.Get<ConfigDict?>("runner", null);
        bool iterBased = runnerCfg?.Get<string?>("type", null) == "IterBasedRunner";
        int maxEpochs = runnerCfg?.Get<int?>("max_epochs", null) ?? (iterBased ? 1 : 12);
        int maxIters = runnerCfg?.Get<int?>("max_iters", null) ?? maxEpochs * loader.Count;
        var schedule = Engine.Hooks.LrUpdaterHook.ScheduleFromConfig(cfg.Get<ConfigDict?>("lr_config", null), iterBased);
        var groups = optimizer.ParamGroups.ToList();
        schedule?.BeforeRun(groups.Select(g => g.InitialLearningRate).ToList());
        void SetLr(double[]? lrs)
        {
            if (lrs is null) return;
            for (int i = 0; i < groups.Count; i++) groups[i].LearningRate = lrs[i];
        }
        int done = -1; // the first iteration warms up and is not timed
        double total = 0, data = 0, lastLoss = double.NaN;
        var losses = new List<double>(iters + 1);
        var times = new List<double>(iters);
        var lrs = new List<double>(iters + 1);
        var watch = Stopwatch.StartNew();
        using var gate = FinalizerGate.Enter();
        for (int epoch = 0; done < iters; epoch++)
        {
            SetLr(schedule?.BeforeTrainEpoch(new TrainProgress(epoch, done + 1, maxEpochs, maxIters), loader.Count));
            using var batches = loader.GetEpoch(epoch).GetEnumerator();
            while (done < iters)
            {
                FinalizerGate.SafePoint();
                var start = watch.Elapsed.TotalSeconds;
                if (!batches.MoveNext()) break;
                double waited = watch.Elapsed.TotalSeconds - start;
                SetLr(schedule?.BeforeTrainIter(new TrainProgress(epoch, done + 1, maxEpochs, maxIters)));
                using (var batch = batches.Current)
                using (var scope = NewDisposeScope())
                {
                    var parsed = LossParser.Parse(model.ForwardTrain(batch));
                    optimizer.zero_grad();
                    parsed.Loss.backward();
                    clipper.ClipGradients(module);
                    optimizer.step();
                    lastLoss = parsed.LogVars[^1].Value;
                }
                losses.Add(lastLoss);
                lrs.Add(groups[0].LearningRate);
                double took = watch.Elapsed.TotalSeconds - start;
                if (done >= 0)
                {
                    total += took;
                    data += waited;
                    times.Add(took);
                }
                done++;
                log.WriteLine($"iter {done}/{iters}: {took:F3} s (data {waited:F3} s), loss {lastLoss:F4}{(done == 0 ? " [warm-up]" : "")}");
            }
        }
        using var proc = Process.GetCurrentProcess();
        proc.Refresh();
        return new TrainBenchmarkResult(iters, total / iters, data / iters, proc.PeakWorkingSet64, losses, lrs) { IterSeconds = times };
    }
}
