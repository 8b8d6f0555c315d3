using DetSharp.Config;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Logging;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>MMDetection's EvalHook <c>dynamic_intervals</c> (<c>_calc_dynamic_intervals</c> / <c>_decide_interval</c>).</summary>
public class EvalHookTests
{
    private static List<int> EvaluatedEpochs(int maxEpochs, EvalHookFactory make)
    {
        using var dir = new TempDir();
        var runner = new EpochBasedRunner(new TinyDetector(), null, dir.Path, RunLogger.Null, maxEpochs: maxEpochs);
        var epochs = new List<int>();
        runner.RegisterHook(make(r =>
        {
            epochs.Add(r.Epoch + 1);
            return new EvalResult([new("bbox_mAP", 0.1)], 1);
        }), HookPriority.Low);
        runner.Run([new TinyBatchSource(count: 1)], [("train", 1)]);
        return epochs;
    }

    private delegate EvalHook EvalHookFactory(Func<BaseRunner, EvalResult> evaluate);

    [Fact]
    public void Dynamic_intervals_change_the_interval_from_each_milestone_on()
    {
        // interval 5, then 1 from epoch 8 (1-based) on: MMDetection evaluates after epochs 5, 8, 9, 10, 11, 12.
        Assert.Equal([5, 8, 9, 10, 11, 12], EvaluatedEpochs(12, e => new EvalHook(e, interval: 5, dynamicIntervals: [(8, 1)])));
        // Two milestones: 4 until epoch 6, 3 from 6, 1 from 11.
        Assert.Equal([4, 6, 9, 11, 12], EvaluatedEpochs(12, e => new EvalHook(e, interval: 4, dynamicIntervals: [(6, 3), (11, 1)])));
        Assert.Equal([5, 10], EvaluatedEpochs(12, e => new EvalHook(e, interval: 5)));
    }

    [Fact]
    public void Dynamic_intervals_are_read_from_the_evaluation_dict_and_checked()
    {
        var cfg = PyConfigParser.Evaluate("evaluation = dict(interval=10, dynamic_intervals=[(300 - 15, 1)], metric='bbox')\n", "cfg.py").Get<ConfigDict>("evaluation");
        Assert.Equal([(285, 1)], EvalHook.DynamicIntervalsFrom(cfg)!);
        Assert.Null(EvalHook.DynamicIntervalsFrom(new ConfigDict()));
        Assert.Contains("rising positive milestones",
            Assert.Throws<DetSharpException>(() => new EvalHook(_ => new EvalResult([], 0), interval: 2, dynamicIntervals: [(8, 1), (4, 2)])).Message);
    }
}
