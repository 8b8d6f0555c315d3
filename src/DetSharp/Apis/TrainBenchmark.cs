using System.Diagnostics;
using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Engine.Optimizers;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>What <see cref="TrainBenchmark.Run"/> measured (after the warm-up iteration).</summary>
public sealed record TrainBenchmarkResult(int Iters, double SecondsPerIter, double DataTime, long PeakRssBytes, double LastLoss);

/// <summary>
/// <c>detsharp benchmark train</c>: the training loop of a config (model, train loader, SGD) for a few iterations, timing each
/// (forward + backward + step) and the wait for its batch, and reporting the process's peak resident memory.
/// </summary>
public static class TrainBenchmark
{
    public static TrainBenchmarkResult Run(Config.Config cfg, int iters, TextWriter log, int seed = 0)
    {
        if (iters < 1) throw new DetSharpException("--iters must be at least 1.");
        ComponentRegistration.EnsureRegistered();
        torch.manual_seed(seed);
        var components = new TrainComponents();
        var model = components.BuildModel(cfg.Get<ConfigDict>("model"));
        var module = (nn.Module)model;
        module.train();
        var loader = components.BuildLoader(cfg, cfg.Get<ConfigDict>("data.train"), true, seed);
        var optimizer = OptimizerBuilder.Build(module, cfg.Get<ConfigDict>("optimizer"));
        int done = -1; // the first iteration warms up and is not timed
        double total = 0, data = 0, lastLoss = double.NaN;
        var watch = Stopwatch.StartNew();
        using var gate = FinalizerGate.Enter();
        for (int epoch = 0; done < iters; epoch++)
        {
            using var batches = loader.GetEpoch(epoch).GetEnumerator();
            while (done < iters)
            {
                FinalizerGate.SafePoint();
                var start = watch.Elapsed.TotalSeconds;
                if (!batches.MoveNext()) break;
                double waited = watch.Elapsed.TotalSeconds - start;
                using (var batch = batches.Current)
                using (var scope = NewDisposeScope())
                {
                    var parsed = LossParser.Parse(model.ForwardTrain(batch));
                    optimizer.zero_grad();
                    parsed.Loss.backward();
                    optimizer.step();
                    lastLoss = parsed.LogVars[^1].Value;
                }
                double took = watch.Elapsed.TotalSeconds - start;
                if (done >= 0)
                {
                    total += took;
                    data += waited;
                }
                done++;
                log.WriteLine($"iter {done}/{iters}: {took:F3} s (data {waited:F3} s), loss {lastLoss:F4}{(done == 0 ? " [warm-up]" : "")}");
            }
        }
        using var proc = Process.GetCurrentProcess();
        proc.Refresh();
        return new TrainBenchmarkResult(iters, total / iters, data / iters, proc.PeakWorkingSet64, lastLoss);
    }
}
