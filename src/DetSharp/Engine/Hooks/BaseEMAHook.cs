using DetSharp.Engine.Runners;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>BaseEMAHook</c> (and the shape of mmcv's <c>EMAHook</c>): keeps an exponential moving average of the
/// model, <c>ema = (1 − m)·ema + m·value</c>, in buffers registered on the model itself as <c>ema_&lt;name with . → _&gt;</c>,
/// so checkpoints carry them under MMDetection's keys and <c>resume_from</c> brings them back. The averaged tensors are the
/// whole <c>state_dict()</c> (BN statistics included; integer ones such as <c>num_batches_tracked</c> are swapped, not
/// averaged) or only the parameters with <c>skip_buffers</c>. After each training epoch the model and its EMA copies are
/// swapped, so the evaluation and the checkpoint that follow (lower priority: give this hook a priority below 50, the
/// configs use 49) see the EMA weights, and swapped back before the next epoch; after the last epoch the model keeps the
/// EMA weights and the <c>ema_</c> buffers the trained ones, as in MMDetection.
/// </summary>
public abstract class BaseEMAHook : Hook
{
    private readonly List<(Tensor Value, Tensor Ema)> _pairs = [];

    protected BaseEMAHook(double momentum, int interval, bool skipBuffers, string? resumeFrom)
    {
        if (momentum is <= 0 or >= 1)
            throw new DetSharpException($"{GetType().Name}: momentum must be in (0, 1), got {momentum}.");
        if (interval <= 0)
            throw new DetSharpException($"{GetType().Name}: interval must be a positive integer, got {interval}.");
        Momentum = momentum;
        Interval = interval;
        SkipBuffers = skipBuffers;
        ResumeFrom = resumeFrom;
    }

    public double Momentum { get; }

    public int Interval { get; }

    public bool SkipBuffers { get; }

    /// <summary>A checkpoint to resume from once the EMA buffers exist (so its <c>ema_</c> keys load into them).</summary>
    public string? ResumeFrom { get; }

    /// <summary>The buffer that holds the EMA of the state-dict entry <paramref name="name"/> (a buffer name has no dots).</summary>
    public static string BufferName(string name) => "ema_" + name.Replace('.', '_');

    /// <summary>The momentum of the update after (0-based) iteration <paramref name="iter"/>.</summary>
    protected abstract double MomentumAt(int iter);

    /// <summary>Whether the EMA is updated after iteration <paramref name="iter"/> (MMDetection: every <c>interval</c>-th).</summary>
    protected virtual bool UpdatesAt(int iter) => (iter + 1) % Interval == 0;

    public override void BeforeRun(BaseRunner runner)
    {
        var model = runner.Module;
        // The tracked tensors are listed before the buffers are added, as MMDetection takes state_dict() first.
        var tracked = SkipBuffers
            ? model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList()
            : model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
        _pairs.Clear();
        using (no_grad())
        {
            foreach (var (name, value) in tracked)
            {
                var ema = value.detach().clone().DetachFromDisposeScope();
                model.register_buffer(BufferName(name), ema);
                _pairs.Add((value, ema));
            }
        }
        if (ResumeFrom is not null) runner.Resume(ResumeFrom);
    }

    public override void AfterTrainIter(BaseRunner runner)
    {
        int iter = runner.Iter;
        if (!UpdatesAt(iter)) return;
        double m = MomentumAt(iter);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (value, ema) in _pairs)
        {
            if (!value.is_floating_point()) continue;
            ema.mul_(1 - m).add_(value.detach(), alpha: m);
        }
    }

    /// <summary>The EMA weights into the model before evaluation and checkpoint (which run after this hook).</summary>
    public override void AfterTrainEpoch(BaseRunner runner) => Swap();

    /// <summary>The trained weights back into the model after the previous epoch's evaluation.</summary>
    public override void BeforeTrainEpoch(BaseRunner runner) => Swap();

    private void Swap()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (value, ema) in _pairs)
        {
            var trained = value.detach().clone();
            value.detach().copy_(ema);
            ema.copy_(trained);
        }
    }
}

/// <summary>
/// MMDetection's <c>ExpMomentumEMAHook</c> (YOLOX's): momentum (1 − m)·exp(−(1 + iter) / <c>total_iter</c>) + m, large
/// at first so the average follows the fast early changes, then m.
/// </summary>
[Register(Registries.HooksName, "ExpMomentumEMAHook")]
public sealed class ExpMomentumEMAHook(int totalIter = 2000, double momentum = 0.0002, int interval = 1, bool skipBuffers = false,
    string? resumeFrom = null) : BaseEMAHook(momentum, interval, skipBuffers, resumeFrom)
{
    public int TotalIter { get; } = totalIter > 0 ? totalIter : throw new DetSharpException($"ExpMomentumEMAHook: total_iter must be a positive integer, got {totalIter}.");

    protected override double MomentumAt(int iter) => (1 - Momentum) * Math.Exp(-(1.0 + iter) / TotalIter) + Momentum;
}

/// <summary>MMDetection's <c>LinearMomentumEMAHook</c>: momentum min(m^interval, (1 + iter) / (<c>warm_up</c> + iter)).</summary>
[Register(Registries.HooksName, "LinearMomentumEMAHook")]
public sealed class LinearMomentumEMAHook(int warmUp = 100, double momentum = 0.0002, int interval = 1, bool skipBuffers = false,
    string? resumeFrom = null) : BaseEMAHook(momentum, interval, skipBuffers, resumeFrom)
{
    public int WarmUp { get; } = warmUp;

    protected override double MomentumAt(int iter) => Math.Min(Math.Pow(Momentum, Interval), (1.0 + iter) / (WarmUp + iter));
}
