using DetSharp.Apis;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace DetSharp.Tests.Engine;

/// <summary>The API's CancellationToken, IProgress and ILogger on training: cancel after iteration k, resume, continue from k.</summary>
// Alone: TinyDetector seeds libtorch's global generator, which the other training tests reseed.
[Collection(ProcessWideCollection.Name)]
public class TrainCancellationTests
{
    private static readonly TrainComponents Tiny = new()
    {
        BuildModel = _ => new TinyDetector(seed: 2),
        BuildLoader = (_, _, _, _) => new TinyBatchSource(count: 3, classes: ["a", "b"]),
    };

    private const string Extra = """
        model = dict(type='TinyDetector')
        data = dict(samples_per_gpu=2, workers_per_gpu=0, train=dict(type='TinyDataset'))
        seed = 5
        """;

    /// <summary>Reports on the training thread, in order (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class Recorder(Action<TrainingProgress>? then = null) : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = [];

        public void Report(TrainingProgress value)
        {
            Reports.Add(value);
            then?.Invoke(value);
        }
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public void Cancelled_after_iteration_k_it_saves_a_checkpoint_and_the_resumed_run_continues_from_k_with_the_same_losses()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig + "\n" + Extra);

        // Uninterrupted: 3 epochs of 3 batches.
        var straight = new Recorder();
        TrainDetector.Train(cfg, new TrainOptions { WorkDir = Path.Combine(dir.Path, "straight"), NoValidate = true, Progress = straight }, Tiny);
        Assert.Equal(Enumerable.Range(1, 9), straight.Reports.Select(r => r.Iter));

        // Cancelled from the progress receiver once iteration 4 (epoch 2, its first batch) is done.
        string workDir = Path.Combine(dir.Path, "cancelled");
        using var cts = new CancellationTokenSource();
        var first = new Recorder(r => { if (r.Iter == 4) cts.Cancel(); });
        var logger = new ListLogger();
        var e = Assert.ThrowsAny<OperationCanceledException>(() => TrainDetector.Train(cfg,
            new TrainOptions { WorkDir = workDir, NoValidate = true, Progress = first, Logger = logger, CancellationToken = cts.Token }, Tiny));
        Assert.Contains("iter_4.pth", e.Message);
        Assert.Equal(Enumerable.Range(1, 4), first.Reports.Select(r => r.Iter));
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Text.StartsWith("Epoch [1][2/3]\tlr: ", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Text.StartsWith("training cancelled after iteration 4; saved ", StringComparison.Ordinal));
        using (var saved = Checkpoint.Load(Path.Combine(workDir, "latest.pth")))
        {
            Assert.True(File.Exists(Path.Combine(workDir, "iter_4.pth")));
            Assert.Equal(1, saved.Epoch); // one epoch finished
            Assert.Equal(4, saved.Iter);
            Assert.Equal(1L, saved.Meta!.GetOrNull(EpochBasedRunner.EpochIterKey)); // one batch of epoch 2 done
            Assert.Equal(1L, saved.Meta!.GetOrNull(EpochBasedRunner.WorldSizeKey)); // by one process
            Assert.Equal(["a", "b"], saved.Classes);
        }

        // --auto-resume continues with iteration 5: the same batches, learning rates and losses as the uninterrupted run.
        var second = new Recorder();
        TrainDetector.Train(cfg, new TrainOptions { WorkDir = workDir, NoValidate = true, AutoResume = true, Progress = second }, Tiny);
        Assert.Equal(Enumerable.Range(5, 5), second.Reports.Select(r => r.Iter));
        Assert.Equal([2, 2, 3, 3, 3], second.Reports.Select(r => r.Epoch));
        var resumed = first.Reports.Concat(second.Reports).ToList();
        for (int i = 0; i < 9; i++)
        {
            double expected = straight.Reports[i].Losses.Single(kv => kv.Key == "loss").Value;
            double actual = resumed[i].Losses.Single(kv => kv.Key == "loss").Value;
            Assert.True(Math.Abs(expected - actual) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"iteration {i + 1}: loss {actual} vs {expected} uninterrupted");
        }
        using var last = Checkpoint.Load(Path.Combine(workDir, "epoch_3.pth"));
        Assert.Equal(9, last.Iter);
        Assert.Null(last.Meta!.GetOrNull(EpochBasedRunner.EpochIterKey));
        Assert.Null(last.Meta!.GetOrNull(EpochBasedRunner.WorldSizeKey));
    }

    /// <summary>A checkpoint stopped inside an epoch skips its batches only at the world size that drew them; elsewhere the epoch restarts.</summary>
    [Theory]
    [InlineData(3, 1, 1, 3)]
    [InlineData(3, 2, 2, 3)]
    [InlineData(3, 2, 1, 0)]
    [InlineData(3, 1, 4, 0)]
    [InlineData(0, 2, 1, 0)]
    public void A_mid_epoch_checkpoint_restarts_the_epoch_at_another_world_size(int done, int savedWorld, int world, int skipped) =>
        Assert.Equal(skipped, EpochBasedRunner.BatchesToSkip(done, savedWorld, world));
}
