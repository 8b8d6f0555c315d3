using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>EMAHook</c>: the EMA of the parameters only (no buffers), updated after iterations 0, interval, 2·interval, …
/// with momentum min(m^interval, (1 + iter) / (<c>warm_up</c> + iter)); buffers, swapping and <c>resume_from</c> as
/// <see cref="BaseEMAHook"/>.
/// </summary>
[Register(Registries.HooksName, "EMAHook")]
public sealed class EMAHook(double momentum = 0.0002, int interval = 1, int warmUp = 100, string? resumeFrom = null)
    : BaseEMAHook(momentum, interval, skipBuffers: true, resumeFrom)
{
    public int WarmUp { get; } = warmUp;

    protected override double MomentumAt(int iter) => Math.Min(Math.Pow(Momentum, Interval), (1.0 + iter) / (WarmUp + iter));

    protected override bool UpdatesAt(int iter) => iter % Interval == 0;
}
