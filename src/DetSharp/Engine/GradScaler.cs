using DetSharp.Config;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// PyTorch's <c>torch.cuda.amp.GradScaler</c> as mmcv's <c>Fp16OptimizerHook</c> uses it: the loss is multiplied by
/// <see cref="Scale"/> before backward so that small float16 gradients do not flush to zero, the gradients are divided by
/// it again before clipping and the step, and a step whose gradients overflowed (inf/NaN) is skipped. A dynamic scaler
/// halves the scale on an overflow and doubles it after <c>growth_interval</c> clean steps; a static one
/// (<c>loss_scale=512.</c>) keeps its scale and only skips overflowed steps, as mmcv's <c>update(loss_scale)</c> does.
/// bfloat16 has float32's exponent range and needs no scaler.
/// </summary>
public sealed class GradScaler
{
    private int _growthTracker;

    public GradScaler(double initScale = 65536.0, double growthFactor = 2.0, double backoffFactor = 0.5, int growthInterval = 2000, bool dynamic = true)
    {
        if (!(initScale > 0) || !double.IsFinite(initScale))
            throw new DetSharpException($"fp16.loss_scale must be a positive number or 'dynamic', got {initScale}.");
        if (growthFactor <= 1 || backoffFactor is <= 0 or >= 1 || growthInterval < 1)
            throw new DetSharpException($"fp16.loss_scale: growth_factor must be > 1, backoff_factor in (0, 1) and growth_interval >= 1 (got {growthFactor}, {backoffFactor}, {growthInterval}).");
        Scale = initScale;
        GrowthFactor = growthFactor;
        BackoffFactor = backoffFactor;
        GrowthInterval = growthInterval;
        Dynamic = dynamic;
    }

    /// <summary>
    /// mmcv's <c>loss_scale</c>: a number (static scale), <c>'dynamic'</c> (GradScaler's defaults) or a dict of GradScaler's
    /// arguments (<c>init_scale</c>, <c>growth_factor</c>, <c>backoff_factor</c>, <c>growth_interval</c>), dynamic.
    /// </summary>
    public static GradScaler FromLossScale(object? lossScale, string where) => lossScale switch
    {
        "dynamic" => new GradScaler(),
        double or float or int or long => new GradScaler(Convert.ToDouble(lossScale, System.Globalization.CultureInfo.InvariantCulture), dynamic: false),
        ConfigDict d => FromDict(d, where),
        _ => throw new DetSharpException($"{where}: loss_scale must be a number, 'dynamic' or a dict of GradScaler arguments, got {ConfigValue.Describe(lossScale)}."),
    };

    private static GradScaler FromDict(ConfigDict d, string where)
    {
        foreach (var key in d.Keys)
            if (key is not ("init_scale" or "growth_factor" or "backoff_factor" or "growth_interval" or "enabled"))
                throw new DetSharpException($"{where}: loss_scale has an unexpected key '{key}'; it accepts init_scale, growth_factor, backoff_factor, growth_interval.");
        return new GradScaler(d.Get("init_scale", 65536.0), d.Get("growth_factor", 2.0), d.Get("backoff_factor", 0.5), d.Get("growth_interval", 2000));
    }

    /// <summary>The current loss scale.</summary>
    public double Scale { get; private set; }

    public double GrowthFactor { get; }

    public double BackoffFactor { get; }

    public int GrowthInterval { get; }

    /// <summary>Whether the scale adapts to overflows (false: mmcv's static <c>loss_scale=512.</c>).</summary>
    public bool Dynamic { get; }

    /// <summary>The loss to back-propagate: <paramref name="loss"/> × <see cref="Scale"/>.</summary>
    public Tensor ScaleLoss(Tensor loss) => loss * Scale;

    /// <summary>
    /// Divides every gradient of <paramref name="parameters"/> by <see cref="Scale"/> in place and returns whether all of
    /// them are finite (one host synchronisation for all of them).
    /// </summary>
    public bool Unscale(IEnumerable<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var finite = new List<Tensor>();
        double inverse = 1.0 / Scale;
        foreach (var p in parameters)
        {
            if (p.grad is not { } g) continue;
            g.mul_(inverse);
            finite.Add(g.isfinite().all());
        }
        return finite.Count == 0 || stack(finite).all().item<bool>();
    }

    /// <summary>After a step (taken or skipped): a dynamic scale backs off on an overflow and grows after enough clean steps.</summary>
    public void Update(bool overflowed)
    {
        if (!Dynamic) return;
        if (overflowed)
        {
            Scale *= BackoffFactor;
            _growthTracker = 0;
            return;
        }
        if (++_growthTracker < GrowthInterval) return;
        Scale *= GrowthFactor;
        _growthTracker = 0;
    }
}
