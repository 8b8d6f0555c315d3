using DetSharp.Engine;
using DetSharp.Engine.Hooks;

namespace DetSharp.Tests.Engine;

/// <summary>The benchmark's clock: every iteration's time, data_time, loss and lr, and the stop after N iterations.</summary>
public class TimingHookTests
{
    /// <summary>A loader that makes the runner wait for each batch.</summary>
    private sealed class SlowBatchSource(IBatchSource inner, TimeSpan delay) : IBatchSource
    {
        public int Count => inner.Count;

        public IReadOnlyList<string>? Classes => inner.Classes;

        public string DatasetName => inner.DatasetName;

        public IEnumerable<IDataBatch> GetEpoch(int epoch)
        {
            foreach (var batch in inner.GetEpoch(epoch))
            {
                Thread.Sleep(delay);
                yield return batch;
            }
        }
    }

    [Fact]
    public void Records_every_iteration_and_stops_the_runner_in_the_middle_of_an_epoch()
    {
        using var dir = new TempDir();
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(seed: 3), EngineTestSupport.LoadConfig(dir.Path));
        var recorder = new LossRecorder();
        runner.RegisterHook(recorder, HookPriority.Lowest);
        var seen = new List<IterationTiming>();
        var timing = new TimingHook(stopAfter: 5, onIteration: seen.Add);
        runner.RegisterHook(timing, HookPriority.Lowest);

        runner.Run([new SlowBatchSource(new TinyBatchSource(count: 3), TimeSpan.FromMilliseconds(40))], [("train", 1)]);

        Assert.Equal(5, runner.Iter);
        Assert.Equal(1, runner.Epoch); // the second epoch was left after 2 of its 3 iterations
        Assert.Equal(timing.Iterations, seen);
        Assert.Equal([0, 1, 2, 3, 4], timing.Iterations.Select(t => t.Iter));
        for (int i = 0; i < 5; i++)
        {
            var t = timing.Iterations[i];
            Assert.Equal(recorder.Records[i].Vars.First(v => v.Key == "loss").Value, t.Loss);
            Assert.Equal(recorder.Records[i].Lr, t.Lr);
            Assert.InRange(t.DataTime, 0.035, t.Time);
        }
        // The finished epoch was checkpointed; the unfinished one was not, and no evaluation or epoch end ran for it.
        Assert.True(File.Exists(Path.Combine(dir.Path, "epoch_1.pth")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "epoch_2.pth")));
    }

    [Fact]
    public void Stops_an_iter_based_runner_too()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig.Replace(
            "runner = dict(type='EpochBasedRunner', max_epochs=3)", "runner = dict(type='IterBasedRunner', max_iters=20)"));
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(seed: 3), cfg);
        var timing = new TimingHook(stopAfter: 7);
        runner.RegisterHook(timing, HookPriority.Lowest);

        runner.Run([new TinyBatchSource(count: 3)], [("train", 1)]);

        Assert.Equal(7, runner.Iter);
        Assert.Equal(7, timing.Iterations.Count);
        Assert.All(timing.Iterations, t => Assert.True(double.IsFinite(t.Loss) && t.Time > 0));
    }
}
