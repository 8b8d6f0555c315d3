using System.Diagnostics;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Engine.Hooks;
using DetSharp.Utils;

namespace DetSharp.Benchmarks;

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

    /// <summary>Where the timed iterations went (<c>--profile</c>); null when not profiled.</summary>
    public ProfileReport? Profile { get; init; }
}

/// <summary>
/// <c>detsharp benchmark train</c>: the training of a config run by <c>detsharp train</c>'s own runner
/// (<see cref="TrainDetector.Prepare"/>: init_cfg pretrained weights, <c>load_from</c>, the optimizer and
/// <c>lr_config</c> with its warm-up, <c>optimizer_config.grad_clip</c>, the config's hooks), stopped by a
/// <see cref="TimingHook"/> after one untimed warm-up iteration and <c>iters</c> timed ones. It runs in a temporary work dir
/// that is deleted afterwards, without evaluation and without checkpoints, and reports the mean time and data_time per
/// iteration and the process's peak resident memory. <c>load_from</c> a trained checkpoint times the late-training
/// iterations, when every cascade stage gets its full share of positives. With <c>profile</c> the <see cref="Profiler"/>
/// times the sections of the timed iterations (<see cref="TrainBenchmarkResult.Profile"/>).
/// </summary>
public static class TrainBenchmark
{
    public static TrainBenchmarkResult Run(Config.Config cfg, int iters, TextWriter log, int seed = 0, TrainComponents? components = null,
        bool profile = false)
    {
        if (iters < 1) throw new DetSharpException("--iters must be at least 1.");
        // A copy without checkpoint_config: nothing is written beside the user's checkpoints (checkpoint_config.out_dir).
        var benchCfg = Config.Config.FromText(cfg.DumpPython(), cfg.Filename);
        benchCfg.MergeFromDict(new ConfigDict { ["checkpoint_config"] = null });
        string workDir = Directory.CreateTempSubdirectory("detsharp-benchmark-").FullName;
        try
        {
            var (runner, loaders, workflow) = TrainDetector.Prepare(benchCfg, new TrainOptions { WorkDir = workDir, Seed = seed, NoValidate = true }, components);
            int seen = 0;
            IReadOnlyList<ProfiledSection> sections = [];
            TimeSpan gcStart = TimeSpan.Zero, gcPause = TimeSpan.Zero;
            var timing = new TimingHook(stopAfter: iters + 1, onIteration: t =>
            {
                log.WriteLine(FormattableString.Invariant(
                    $"iter {t.Iter}/{iters}: {t.Time:F3} s (data {t.DataTime:F3} s), loss {t.Loss:F4}{(t.Iter == 0 ? " [warm-up]" : "")}"));
                if (!profile) return;
                // The profile covers the timed iterations: cleared when the warm-up one ends, read when each timed one ends
                // (the hook runs last in an iteration, so nothing of it is left out).
                if (seen++ == 0)
                {
                    Profiler.Reset();
                    gcStart = GC.GetTotalPauseDuration();
                    return;
                }
                sections = Profiler.Snapshot();
                gcPause = GC.GetTotalPauseDuration() - gcStart;
            });
            try
            {
                runner.RegisterHook(timing, HookPriority.Lowest);
                if (profile) Profiler.Start();
                runner.Run(loaders, workflow);
            }
            finally
            {
                Profiler.Stop();
                runner.Logger.Dispose();
            }
            var timed = timing.Iterations.Skip(1).ToList();
            if (timed.Count == 0)
                throw new DetSharpException($"benchmark train: the config's schedule ran {timing.Iterations.Count} iteration(s), none after the warm-up one; raise runner.max_epochs / max_iters.");
            if (timed.Count < iters)
                log.WriteLine($"the config's schedule ends after {timing.Iterations.Count} iterations: {timed.Count} timed instead of {iters}.");
            using var process = Process.GetCurrentProcess();
            process.Refresh();
            return new TrainBenchmarkResult(timed.Count, timed.Average(t => t.Time), timed.Average(t => t.DataTime), process.PeakWorkingSet64,
                timing.Iterations.Select(t => t.Loss).ToList(), timing.Iterations.Select(t => t.Lr).ToList())
            {
                IterSeconds = timed.Select(t => t.Time).ToList(),
                Profile = profile ? ProfileReport.From(sections, timed.Count, timed.Sum(t => t.Time), gcPause) : null,
            };
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }
}
