using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Logging;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>YOLOXModeSwitchHook with test doubles of the two things it switches (the dataset's skip_type_keys, the head's L1 loss).</summary>
public class YOLOXModeSwitchHookTests
{
    private static (EpochBasedRunner Runner, StringWriter Log) MakeRunner(string dir, L1SwitchDetector model, int maxEpochs)
    {
        var log = new StringWriter();
        var runner = new EpochBasedRunner(model, null, dir, new RunLogger(null, log, false), maxEpochs: maxEpochs);
        return (runner, log);
    }

    [Fact]
    public void Switches_before_epoch_max_epochs_minus_num_last_epochs_plus_one()
    {
        using var dir = new TempDir();
        var model = new L1SwitchDetector();
        var (runner, log) = MakeRunner(dir.Path, model, maxEpochs: 5);
        runner.RegisterHook(new YOLOXModeSwitchHook(numLastEpochs: 2), (HookPriority)48);
        var source = new SkipTypeKeysSource(count: 2);

        runner.Run([source], [("train", 1)]);

        // MMDetection: (epoch + 1) == max_epochs - num_last_epochs, i.e. before the third of five epochs (index 2).
        var update = Assert.Single(source.Updates);
        Assert.Equal(2, update.BeforeEpoch);
        Assert.Equal(["Mosaic", "RandomAffine", "MixUp"], update.Keys);
        Assert.Equal([false, false, false, false, true, true, true, true, true, true], model.UseL1PerIteration);
        Assert.Contains("No mosaic and mixup aug now!", log.ToString());
        Assert.Contains("Add additional L1 loss now!", log.ToString());
    }

    [Fact]
    public void A_run_resumed_after_the_switch_epoch_switches_at_its_first_epoch()
    {
        using var dir = new TempDir();
        var (first, _) = MakeRunner(dir.Path, new L1SwitchDetector(), maxEpochs: 3);
        first.RegisterHook(new CheckpointHook(interval: 3));
        first.Run([new SkipTypeKeysSource()], [("train", 1)]);
        string checkpoint = Path.Combine(dir.Path, "epoch_3.pth");

        var model = new L1SwitchDetector();
        var (runner, _) = MakeRunner(dir.Path, model, maxEpochs: 5);
        runner.RegisterHook(new YOLOXModeSwitchHook(numLastEpochs: 3, skipTypeKeys: ["Mosaic"]), (HookPriority)48);
        runner.Resume(checkpoint);
        var source = new SkipTypeKeysSource();
        runner.Run([source], [("train", 1)]);

        var update = Assert.Single(source.Updates);
        Assert.Equal(3, update.BeforeEpoch);
        Assert.Equal(["Mosaic"], update.Keys);
        Assert.All(model.UseL1PerIteration, useL1 => Assert.True(useL1));
    }

    [Fact]
    public void A_dataset_or_model_that_cannot_switch_is_reported_at_the_first_epoch()
    {
        using var dir = new TempDir();
        var (runner, _) = MakeRunner(dir.Path, new L1SwitchDetector(), maxEpochs: 300);
        runner.RegisterHook(new YOLOXModeSwitchHook());
        var e = Assert.Throws<DetSharpException>(() => runner.Run([new TinyBatchSource()], [("train", 1)]));
        Assert.Contains("TinyDataset cannot skip transforms; wrap data.train in dict(type='MultiImageMixDataset'", e.Message);
        Assert.Equal(0, runner.Iter);

        var plain = new EpochBasedRunner(new TinyDetector(), null, dir.Path, RunLogger.Null, maxEpochs: 300);
        plain.RegisterHook(new YOLOXModeSwitchHook());
        e = Assert.Throws<DetSharpException>(() => plain.Run([new SkipTypeKeysSource()], [("train", 1)]));
        Assert.Contains("TinyDetector has no bbox_head with an L1 switch", e.Message);
    }
}
