using DetSharp.Distributed;
using DetSharp.Engine.Runners;
using DetSharp.Registry;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>SyncNormHook</c> (YOLOX): after every <c>interval</c>-th training epoch, and after every epoch from
/// epoch <c>max_epochs − num_last_epochs</c> on, the norm layers' states (<see cref="NormStates"/>) are averaged over the
/// ranks of a distributed run (<see cref="AverageOverRanks"/>, MMDetection's <c>all_reduce_dict(op='mean')</c> loaded
/// back), so every rank evaluates and saves the same statistics. In one process (world size 1) MMDetection returns
/// without syncing, and so does this hook.
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

    public override void AfterTrainEpoch(BaseRunner runner)
    {
        if (runner.ProcessGroup.IsDistributed && IsSyncEpoch(runner)) AverageOverRanks(NormStates(runner.Module), runner.ProcessGroup);
    }

    /// <summary>Every tensor of <paramref name="states"/> set, in place, to its mean over the ranks (in float64; every rank's model has the same layers).</summary>
    public static void AverageOverRanks(IReadOnlyDictionary<string, Tensor> states, IProcessGroup group)
    {
        if (states.Count == 0) return;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tensors = states.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value).ToList();
        var values = cat(tensors.Select(t => t.detach().flatten().to(ScalarType.Float64, CPU)).ToList()).data<double>().ToArray();
        group.AllReduceSum(values);
        var mean = tensor(values, ScalarType.Float64).div_(group.WorldSize);
        long offset = 0;
        foreach (var t in tensors)
        {
            long n = t.numel();
            t.copy_(mean.narrow(0, offset, n).view(t.shape));
            offset += n;
        }
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
