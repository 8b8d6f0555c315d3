using System.Text.Json;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>
/// The EMA hooks against MMDetection 2.28.2 / mmcv 1.7.1's own (<c>tools/oracle/yolox_hooks.py</c>): the same
/// <see cref="TinyDetector"/> layers, whose state is set to fixed values after every iteration (as the optimizer and BN would
/// change it), the EMA buffers after each iteration, and the model after the epoch's swap.
/// </summary>
public class EMAHookTests
{
    private const string Family = "yolox_hooks";
    private const string FixtureFile = "yolox_hooks.json";

    private static List<string> Keys(string run)
    {
        using var fx = new OracleFixture(Family, FixtureFile);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(fx.Folder, FixtureFile)));
        return [.. doc.RootElement.GetProperty(run + ".keys").EnumerateArray().Select(e => e.GetString()!)];
    }

    /// <summary>The oracle's stand-in for training step k (k = −1: the start): key j, element i = sin(0.37(i+1) + 1.3(j+1) + 0.71(k+1)).</summary>
    private static void SetState(nn.Module model, IReadOnlyList<string> keyOrder, int k)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var state = model.state_dict();
        for (int j = 0; j < keyOrder.Count; j++)
        {
            var t = state[keyOrder[j]];
            if (!t.is_floating_point())
            {
                t.fill_(k + 1);
                continue;
            }
            var values = new float[t.numel()];
            for (int i = 0; i < values.Length; i++) values[i] = (float)Math.Sin(0.37 * (i + 1) + 1.3 * (j + 1) + 0.71 * (k + 1));
            t.copy_(tensor(values).reshape(t.shape));
        }
    }

    /// <summary>After the optimizer (40) and before the EMA (49): puts step k's values into the model.</summary>
    private sealed class SetStateHook(IReadOnlyList<string> keyOrder) : Hook
    {
        public override void AfterTrainIter(BaseRunner runner) => SetState(runner.Module, keyOrder, runner.Iter);
    }

    /// <summary>Copies of the named tensors of the model's state dict, taken at a hook point.</summary>
    private sealed class Snapshots : Hook
    {
        public List<Dictionary<string, Tensor>> PerIteration { get; } = [];

        public List<Dictionary<string, Tensor>> PerEpoch { get; } = [];

        public override void AfterTrainIter(BaseRunner runner) => PerIteration.Add(Take(runner));

        public override void AfterTrainEpoch(BaseRunner runner) => PerEpoch.Add(Take(runner));

        private static Dictionary<string, Tensor> Take(BaseRunner runner) =>
            runner.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(float64).clone().DetachFromDisposeScope());
    }

    private static (TinyDetector Model, Snapshots Snaps, BaseRunner Runner) Run(string dir, BaseEMAHook hook, IReadOnlyList<string> keyOrder, int steps)
    {
        var model = new TinyDetector(seed: 4);
        SetState(model, keyOrder, -1);
        var runner = new EpochBasedRunner(model, null, dir, RunLogger.Null, maxEpochs: 1);
        runner.RegisterHook(new SetStateHook(keyOrder), (HookPriority)45);
        runner.RegisterHook(hook, (HookPriority)49);
        var snaps = new Snapshots();
        runner.RegisterHook(snaps, HookPriority.Low);
        runner.Run([new TinyBatchSource(count: steps)], [("train", 1)]);
        return (model, snaps, runner);
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<double>();
        Assert.True(diff <= 1e-6, $"{what}: max |diff| {diff}");
    }

    [Theory]
    [InlineData("ema_exp", 5)]
    [InlineData("ema_linear", 4)]
    [InlineData("ema_mmcv", 5)]
    public void Ema_buffers_names_and_swap_match_mmdetection(string run, int steps)
    {
        BaseEMAHook hook = run switch
        {
            "ema_exp" => new ExpMomentumEMAHook(totalIter: 3, momentum: 0.1, interval: 2),
            "ema_linear" => new LinearMomentumEMAHook(warmUp: 4, momentum: 0.2),
            _ => new EMAHook(momentum: 0.5, interval: 2, warmUp: 3),
        };
        var keys = Keys(run);
        var modelKeys = keys.Where(k => !k.StartsWith("ema_", StringComparison.Ordinal)).ToList();
        using var dir = new TempDir();
        using var fx = new OracleFixture(Family, FixtureFile);

        var (model, snaps, _) = Run(dir.Path, hook, modelKeys, steps);

        Assert.Equal(keys.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
        var emaKeys = keys.Where(k => k.StartsWith("ema_", StringComparison.Ordinal)).ToList();
        for (int k = 0; k < steps; k++)
        {
            foreach (var key in emaKeys)
            {
                using var expected = fx.Float($"{run}.{k}.{key}");
                AssertClose(expected.to(float64), snaps.PerIteration[k][key], $"{run} after iteration {k}: {key}");
            }
        }
        // After the epoch (as the evaluation and checkpoint that follow see it): the model holds the EMA, ema_* the trained values.
        foreach (var key in keys)
        {
            using var expected = fx.Float($"{run}.swapped.{key}");
            AssertClose(expected.to(float64), snaps.PerEpoch[0][key], $"{run} after the epoch: {key}");
            AssertClose(expected.to(float64), model.state_dict()[key].detach().to(float64), $"{run} after the run: {key}");
        }
    }

    [Fact]
    public void Checkpoints_carry_the_ema_keys_and_resume_from_loads_them_into_the_buffers()
    {
        var keys = Keys("ema_exp");
        var modelKeys = keys.Where(k => !k.StartsWith("ema_", StringComparison.Ordinal)).ToList();
        using var dir = new TempDir();
        var (model, _, runner) = Run(dir.Path, new ExpMomentumEMAHook(totalIter: 3, momentum: 0.1, interval: 2), modelKeys, 5);
        string path = runner.SaveCheckpoint(dir.Path);

        using (var saved = Checkpoint.Load(path))
            Assert.Equal(keys.Order(StringComparer.Ordinal), saved.StateDict.Keys.Order(StringComparer.Ordinal));

        // A fresh model and hook: resume_from runs after the buffers exist, so every ema_ key is loaded into them.
        var fresh = new TinyDetector(seed: 9);
        var resumed = new EpochBasedRunner(fresh, null, dir.Path, RunLogger.Null, maxEpochs: 2);
        new ExpMomentumEMAHook(totalIter: 3, momentum: 0.1, interval: 2, resumeFrom: path).BeforeRun(resumed);

        Assert.Equal(5, resumed.Iter);
        var expected = model.state_dict();
        foreach (var (key, value) in fresh.state_dict())
            AssertClose(expected[key].detach().to(float64), value.detach().to(float64), $"resumed {key}");
    }

    [Fact]
    public void Momentum_and_interval_are_checked()
    {
        Assert.Contains("momentum must be in (0, 1)", Assert.Throws<DetSharpException>(() => new ExpMomentumEMAHook(momentum: 1.0)).Message);
        Assert.Contains("interval must be a positive integer", Assert.Throws<DetSharpException>(() => new EMAHook(interval: 0)).Message);
    }
}
