using DetSharp.Config;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>SyncNormHook's schedule, norm states and their average over ranks (threads here), and SyncRandomSizeHook's deprecation.</summary>
public class SyncHooksTests
{
    /// <summary>Records <see cref="SyncNormHook.IsSyncEpoch"/> after every epoch.</summary>
    private sealed class SyncEpochs(SyncNormHook hook) : Hook
    {
        public List<bool> Epochs { get; } = [];

        public override void AfterTrainEpoch(BaseRunner runner) => Epochs.Add(hook.IsSyncEpoch(runner));
    }

    [Fact]
    public void Sync_norm_syncs_every_interval_then_every_epoch_of_the_last_epochs()
    {
        using var dir = new TempDir();
        var runner = new EpochBasedRunner(new TinyDetector(), null, dir.Path, RunLogger.Null, maxEpochs: 9);
        var hook = new SyncNormHook(numLastEpochs: 3, interval: 4);
        var probe = new SyncEpochs(hook);
        runner.RegisterHook(hook, (HookPriority)48);
        runner.RegisterHook(probe);

        runner.Run([new TinyBatchSource(count: 1)], [("train", 1)]);

        // Epochs 4 and 8 by the interval; from epoch 6 (= 9 - 3) on, every epoch.
        Assert.Equal([false, false, false, true, false, true, true, true, true], probe.Epochs);
        Assert.Equal(1, hook.Interval);
    }

    [Fact]
    public void Norm_states_are_the_batch_norm_entries_of_the_state_dict()
    {
        var model = new TinyDetector();
        var states = SyncNormHook.NormStates(model);
        Assert.Equal(["bn.bias", "bn.num_batches_tracked", "bn.running_mean", "bn.running_var", "bn.weight"], states.Keys.Order(StringComparer.Ordinal));
        // The model's own tensors (a sync writes the averages back into them).
        using (TorchSharp.torch.no_grad()) states["bn.running_mean"].fill_(3f);
        Assert.Equal(3f, model.state_dict()["bn.running_mean"][0].item<float>());
    }

    [Fact]
    public void Norm_states_are_averaged_over_the_ranks()
    {
        var models = new[] { new TinyDetector(), new TinyDetector() };
        using (TorchSharp.torch.no_grad())
        {
            models[0].state_dict()["bn.running_mean"].fill_(1f);
            models[1].state_dict()["bn.running_mean"].fill_(4f);
            models[0].state_dict()["bn.weight"].fill_(1f);
            models[1].state_dict()["bn.weight"].fill_(2f);
        }
        ThreadWorld.Run(2, group => SyncNormHook.AverageOverRanks(SyncNormHook.NormStates(models[group.Rank]), group));
        foreach (var model in models)
        {
            Assert.All(model.state_dict()["bn.running_mean"].data<float>().ToArray(), v => Assert.Equal(2.5f, v));
            Assert.All(model.state_dict()["bn.weight"].data<float>().ToArray(), v => Assert.Equal(1.5f, v));
        }
    }

    [Fact]
    public void Sync_random_size_is_accepted_with_mmdetections_deprecation_warning()
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = PyConfigParser.Evaluate("h = dict(type='SyncRandomSizeHook', ratio_range=(10, 20), img_scale=(640, 640), interval=1)\n", "cfg.py").Get<ConfigDict>("h");
        var hook = Registries.Hooks.Build<Hook>(cfg);
        using var dir = new TempDir();
        var log = new StringWriter();
        var runner = new EpochBasedRunner(new TinyDetector(), null, dir.Path, new RunLogger(null, log, false), maxEpochs: 1);
        runner.RegisterHook(hook);

        runner.Run([new TinyBatchSource(count: 1)], [("train", 1)]);

        Assert.Contains("WARNING - DeprecationWarning: SyncRandomSizeHook is deprecated. Please use Resize pipeline", log.ToString());
    }
}
