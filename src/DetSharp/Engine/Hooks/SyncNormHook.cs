using DetSharp.Engine.Runners;
using DetSharp.Registry;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>SyncNormHook</c> (YOLOX): after every <c>interval</c>-th training epoch, and after every epoch from
/// epoch <c>max_epochs − num_last_epochs</c> on, the norm layers' states (<see cref="NormStates"/>) are averaged over the
/// training processes so every process evaluates and saves the same statistics. DetSharp trains in one process
/// (MMDetection's world_size 1), where MMDetection returns without syncing, and so does this hook: it keeps the schedule
/// (<see cref="IsSyncEpoch"/>) and <see cref="NormStates"/>; when DetSharp gets a process group, the sync goes into an
/// <c>AfterTrainEpoch</c> override here: on a sync epoch, the mean all-reduce of <see cref="NormStates"/> loaded back non-strictly.
/// </summary>
[Register(Registries.HooksName, "SyncNormHook")]
public sealed class SyncNormHook(int numLastEpochs = 15, int interval = 1) : Hook
{
    public int NumLastEpochs { get; } = numLastEpochs;

    /// <summary>Epochs between syncs: the configured interval, 1 from epoch <c>max_epochs − num_last_epochs</c> (1-based) on.</summary>
    public int Interval { get; private set; } = interval > 0 ? interval : throw new DetSharpException($"SyncNormHook: interval must be a positive integer, got {interval}.");

    public override void BeforeTrainEpoch(BaseRunner runner)
    {
        if (runner.Epoch + 1 == runner.MaxEpochs - NumLastEpochs) Interval = 1;
    }

    /// <summary>True after the epochs whose norm states MMDetection synchronises.</summary>
    public bool IsSyncEpoch(BaseRunner runner) => (runner.Epoch + 1) % Interval == 0;

    /// <summary>
    /// MMDetection's <c>get_norm_states</c>: the state-dict entries (weight, bias, running statistics, num_batches_tracked)
    /// of every batch-norm layer, keyed by the module path.
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> NormStates(nn.Module module)
    {
        var states = new Dictionary<string, Tensor>();
        foreach (var (name, child) in module.named_modules())
        {
            if (child is not BatchNorm) continue;
            foreach (var (key, value) in child.state_dict()) states[name.Length == 0 ? key : $"{name}.{key}"] = value;
        }
        return states;
    }
}
