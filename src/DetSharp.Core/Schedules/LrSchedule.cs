using DetSharp.Config;

namespace DetSharp.Schedules;

/// <summary>
/// Where training stands, as mmcv's LR updater hooks read it from the runner (all 0-based counters);
/// <paramref name="EpochLength"/> is <c>len(runner.data_loader)</c> and <paramref name="WarmupIters"/> the hook's warm-up
/// length in iterations once known (<see cref="LrSchedule"/> fills it in), both read by YOLOX's policy.
/// </summary>
public readonly record struct TrainProgress(int Epoch, int Iter, int MaxEpochs, int MaxIters, int EpochLength = 0, int WarmupIters = 0);

/// <summary>mmcv's warmup kinds (<c>lr_config.warmup</c>).</summary>
public enum WarmupKind
{
    None,
    Constant,
    Linear,
    Exp,
}

/// <summary>
/// The regular (post-warmup) learning-rate rule of an mmcv <c>*LrUpdaterHook</c>: maps the base lr of a parameter
/// group and the progress to the lr, counting epochs when <see cref="ByEpoch"/> and iterations otherwise.
/// </summary>
public abstract class LrPolicy(bool byEpoch)
{
    public bool ByEpoch { get; } = byEpoch;

    public abstract double GetLr(TrainProgress progress, double baseLr);

    /// <summary>
    /// The lr of one group during warm-up (mmcv's <c>get_warmup_lr</c>): mmcv's formula for <paramref name="kind"/> on the
    /// regular lr; a policy with its own warm-up (YOLOX) overrides it.
    /// </summary>
    public virtual double WarmupLr(WarmupKind kind, double ratio, int curIter, int warmupIters, double regularLr, double baseLr) =>
        LrSchedule.WarmupLr(kind, ratio, curIter, warmupIters, regularLr);

    protected int Progress(TrainProgress p) => ByEpoch ? p.Epoch : p.Iter;

    protected int MaxProgress(TrainProgress p) => ByEpoch ? p.MaxEpochs : p.MaxIters;
}

/// <summary><c>policy='fixed'</c>: the base lr throughout.</summary>
public sealed class FixedLrPolicy(bool byEpoch = true) : LrPolicy(byEpoch)
{
    public override double GetLr(TrainProgress progress, double baseLr) => baseLr;
}

/// <summary>
/// <c>policy='step'</c>: <c>base_lr · gamma^k</c> where k = progress // step for an int step, or the number of
/// milestones ≤ progress for a list (mmcv's StepLrUpdaterHook), clamped below by <c>min_lr</c>.
/// </summary>
public sealed class StepLrPolicy : LrPolicy
{
    public StepLrPolicy(IReadOnlyList<int> steps, bool stepIsInterval, double gamma = 0.1, double? minLr = null, bool byEpoch = true) : base(byEpoch)
    {
        if (steps.Count == 0 || steps.Any(s => s <= 0))
            throw new DetSharpException($"lr_config.step must be a positive int or a list of positive ints, got [{string.Join(", ", steps)}].");
        Steps = steps;
        StepIsInterval = stepIsInterval;
        Gamma = gamma;
        MinLr = minLr;
    }

    public IReadOnlyList<int> Steps { get; }

    /// <summary>True when <c>step</c> was a single int (decay every <c>step</c> epochs/iterations).</summary>
    public bool StepIsInterval { get; }

    public double Gamma { get; }

    public double? MinLr { get; }

    public override double GetLr(TrainProgress progress, double baseLr)
    {
        int p = Progress(progress);
        int exp;
        if (StepIsInterval)
        {
            exp = p / Steps[0];
        }
        else
        {
            exp = Steps.Count;
            for (int i = 0; i < Steps.Count; i++)
            {
                if (p < Steps[i])
                {
                    exp = i;
                    break;
                }
            }
        }
        double lr = baseLr * Math.Pow(Gamma, exp);
        return MinLr is { } min ? Math.Max(lr, min) : lr;
    }
}

/// <summary><c>policy='CosineAnnealing'</c>: cosine from base lr to <c>min_lr</c> (or base·<c>min_lr_ratio</c>) over the run.</summary>
public sealed class CosineAnnealingLrPolicy : LrPolicy
{
    public CosineAnnealingLrPolicy(double? minLr, double? minLrRatio, bool byEpoch = true) : base(byEpoch)
    {
        if (minLr is null == minLrRatio is null)
            throw new DetSharpException("lr_config for CosineAnnealing needs exactly one of min_lr and min_lr_ratio.");
        MinLr = minLr;
        MinLrRatio = minLrRatio;
    }

    public double? MinLr { get; }

    public double? MinLrRatio { get; }

    public override double GetLr(TrainProgress progress, double baseLr)
    {
        double target = MinLrRatio is { } ratio ? baseLr * ratio : MinLr!.Value;
        double factor = (double)Progress(progress) / MaxProgress(progress);
        return AnnealingCos(baseLr, target, factor);
    }

    /// <summary>mmcv's <c>annealing_cos</c>: end + (start − end)/2 · (cos(π·factor) + 1).</summary>
    public static double AnnealingCos(double start, double end, double factor, double weight = 1) =>
        end + 0.5 * weight * (start - end) * (Math.Cos(Math.PI * factor) + 1);
}

/// <summary>
/// <c>policy='YOLOX'</c> (MMDetection's <c>YOLOXLrUpdaterHook</c>, a CosineAnnealing hook): with p = progress + 1, the last
/// <c>num_last_epochs</c>·epoch length steps stay at the target lr (base·<c>min_lr_ratio</c> or <c>min_lr</c>); before them
/// the lr follows the cosine from base to target over (p − warmup_iters) / (max − warmup_iters − last). The flat part is
/// counted in iterations even when <c>by_epoch</c> (as MMDetection does). Its warm-up, whatever the <c>warmup</c> kind,
/// is base·ratio·((i + 1) / warmup_iters)², from the base lr rather than the regular one.
/// </summary>
public sealed class YOLOXLrPolicy : LrPolicy
{
    public YOLOXLrPolicy(int numLastEpochs, double? minLr, double? minLrRatio, bool byEpoch = true) : base(byEpoch)
    {
        if (minLr is null == minLrRatio is null)
            throw new DetSharpException("lr_config for YOLOX needs exactly one of min_lr and min_lr_ratio.");
        if (numLastEpochs < 0)
            throw new DetSharpException($"lr_config.num_last_epochs must be a non-negative integer, got {numLastEpochs}.");
        NumLastEpochs = numLastEpochs;
        MinLr = minLr;
        MinLrRatio = minLrRatio;
    }

    public int NumLastEpochs { get; }

    public double? MinLr { get; }

    public double? MinLrRatio { get; }

    public override double GetLr(TrainProgress progress, double baseLr)
    {
        int lastIter = progress.EpochLength * NumLastEpochs;
        int p = Progress(progress) + 1;
        int max = MaxProgress(progress);
        double target = MinLrRatio is { } ratio ? baseLr * ratio : MinLr!.Value;
        if (p >= max - lastIter) return target;
        double factor = (double)(p - progress.WarmupIters) / (max - progress.WarmupIters - lastIter);
        return CosineAnnealingLrPolicy.AnnealingCos(baseLr, target, factor);
    }

    public override double WarmupLr(WarmupKind kind, double ratio, int curIter, int warmupIters, double regularLr, double baseLr) =>
        baseLr * (ratio * Math.Pow((curIter + 1) / (double)warmupIters, 2));
}

/// <summary><c>policy='poly'</c>: (base − min_lr)·(1 − progress/max)^power + min_lr.</summary>
public sealed class PolyLrPolicy(double power = 1.0, double minLr = 0.0, bool byEpoch = true) : LrPolicy(byEpoch)
{
    public double Power { get; } = power;

    public double MinLr { get; } = minLr;

    public override double GetLr(TrainProgress progress, double baseLr)
    {
        double coeff = Math.Pow(1 - (double)Progress(progress) / MaxProgress(progress), Power);
        return (baseLr - MinLr) * coeff + MinLr;
    }
}

/// <summary>
/// mmcv's <c>LrUpdaterHook</c> as pure arithmetic: a policy plus warmup, with the hook's exact call points.
/// The runner calls <see cref="BeforeRun"/>, then <see cref="BeforeTrainEpoch"/> and <see cref="BeforeTrainIter"/>;
/// each returns the lrs to set on the parameter groups, or null when the hook leaves them unchanged.
/// Warmup (per global iteration i &lt; warmup_iters): constant → regular·ratio; linear → regular·(1 − (1 − i/w)(1 − ratio));
/// exp → regular·ratio^(1 − i/w).
/// </summary>
public sealed class LrSchedule
{
    private double[] _baseLr = [];
    private double[] _regularLr = [];
    private int? _warmupIters;
    private readonly int? _warmupEpochs;

    public LrSchedule(LrPolicy policy, WarmupKind warmup = WarmupKind.None, int warmupIters = 0, double warmupRatio = 0.1, bool warmupByEpoch = false)
    {
        if (warmup != WarmupKind.None)
        {
            if (warmupIters <= 0)
                throw new DetSharpException($"lr_config.warmup_iters must be a positive integer when warmup is set, got {warmupIters}.");
            if (warmupRatio is <= 0 or > 1.0)
                throw new DetSharpException($"lr_config.warmup_ratio must be in (0, 1], got {warmupRatio}.");
        }
        Policy = policy;
        Warmup = warmup;
        WarmupRatio = warmupRatio;
        WarmupByEpoch = warmupByEpoch;
        if (warmupByEpoch) _warmupEpochs = warmupIters;
        else _warmupIters = warmupIters;
    }

    public LrPolicy Policy { get; }

    public WarmupKind Warmup { get; }

    public double WarmupRatio { get; }

    public bool WarmupByEpoch { get; }

    /// <summary>Warmup length in iterations (known after the first epoch starts when warming up by epoch).</summary>
    public int? WarmupIters => _warmupIters;

    /// <summary>The lr every group would have without warmup at the last call.</summary>
    public IReadOnlyList<double> RegularLr => _regularLr;

    /// <summary>Records each group's initial lr (<c>initial_lr</c>, kept across resume) as its base lr.</summary>
    public void BeforeRun(IReadOnlyList<double> initialLrs) => _baseLr = initialLrs.ToArray();

    public double[]? BeforeTrainEpoch(TrainProgress progress, int epochLength)
    {
        _warmupIters ??= _warmupEpochs!.Value * epochLength;
        if (!Policy.ByEpoch) return null;
        _regularLr = RegularLrs(progress);
        return _regularLr;
    }

    public double[]? BeforeTrainIter(TrainProgress progress)
    {
        int cur = progress.Iter;
        int warmupIters = _warmupIters ?? 0;
        if (!Policy.ByEpoch)
        {
            _regularLr = RegularLrs(progress);
            return Warmup == WarmupKind.None || cur >= warmupIters ? _regularLr : WarmupLrs(cur, warmupIters);
        }
        if (Warmup == WarmupKind.None || cur > warmupIters) return null;
        if (cur == warmupIters) return _regularLr;
        return WarmupLrs(cur, warmupIters);
    }

    private double[] RegularLrs(TrainProgress progress)
    {
        var withWarmup = progress with { WarmupIters = _warmupIters ?? 0 };
        return _baseLr.Select(b => Policy.GetLr(withWarmup, b)).ToArray();
    }

    private double[] WarmupLrs(int cur, int warmupIters) =>
        _regularLr.Select((lr, i) => Policy.WarmupLr(Warmup, WarmupRatio, cur, warmupIters, lr, _baseLr[i])).ToArray();

    /// <summary>mmcv's warmup formula for one group.</summary>
    public static double WarmupLr(WarmupKind kind, double ratio, int curIter, int warmupIters, double regularLr)
    {
        switch (kind)
        {
            case WarmupKind.Constant:
                return regularLr * ratio;
            case WarmupKind.Linear:
                double k = (1 - (double)curIter / warmupIters) * (1 - ratio);
                return regularLr * (1 - k);
            case WarmupKind.Exp:
                return regularLr * Math.Pow(ratio, 1 - (double)curIter / warmupIters);
            default:
                return regularLr;
        }
    }

    /// <summary>
    /// Builds the schedule from an <c>lr_config</c> dict as mmcv's <c>register_lr_hook</c> does: <c>policy</c>
    /// names the hook (<c>'step'</c> → Step, lower-case names title-cased), the other keys are its arguments.
    /// </summary>
    public static LrSchedule FromConfig(ConfigDict lrConfig)
    {
        var known = new HashSet<string> { "policy", "by_epoch", "warmup", "warmup_iters", "warmup_ratio", "warmup_by_epoch" };
        string where = lrConfig.Path.Length == 0 ? "lr_config" : lrConfig.Path;
        if (!lrConfig.TryGetValue("policy", out var policyValue) || policyValue is not string policyName)
            throw new DetSharpException($"{where} needs a 'policy' string (step, CosineAnnealing, poly, fixed, YOLOX).");
        if (policyName.Length > 0 && policyName.All(c => char.ToLowerInvariant(c) == c))
            policyName = char.ToUpperInvariant(policyName[0]) + policyName[1..];
        bool byEpoch = lrConfig.Get("by_epoch", true);
        LrPolicy policy;
        switch (policyName)
        {
            case "Step":
                known.UnionWith(["step", "gamma", "min_lr"]);
                var stepValue = lrConfig.TryGetValue("step", out var s) ? s : throw new DetSharpException($"{where}: policy 'step' needs 'step' (an int or a list of epochs).");
                bool interval = stepValue is long or int;
                var steps = interval ? [lrConfig.Get<int>("step")] : lrConfig.Get<List<int>>("step");
                policy = new StepLrPolicy(steps, interval, lrConfig.Get("gamma", 0.1), lrConfig.Get<double?>("min_lr", null), byEpoch);
                break;
            case "CosineAnnealing":
                known.UnionWith(["min_lr", "min_lr_ratio"]);
                policy = new CosineAnnealingLrPolicy(lrConfig.Get<double?>("min_lr", null), lrConfig.Get<double?>("min_lr_ratio", null), byEpoch);
                break;
            case "Poly":
                known.UnionWith(["power", "min_lr"]);
                policy = new PolyLrPolicy(lrConfig.Get("power", 1.0), lrConfig.Get("min_lr", 0.0), byEpoch);
                break;
            case "Fixed":
                policy = new FixedLrPolicy(byEpoch);
                break;
            case "YOLOX":
                known.UnionWith(["num_last_epochs", "min_lr", "min_lr_ratio"]);
                if (!lrConfig.ContainsKey("num_last_epochs"))
                    throw new DetSharpException($"{where}: policy 'YOLOX' needs 'num_last_epochs' (the flat epochs at the end, 15 in configs/yolox).");
                policy = new YOLOXLrPolicy(lrConfig.Get<int>("num_last_epochs"), lrConfig.Get<double?>("min_lr", null), lrConfig.Get<double?>("min_lr_ratio", null), byEpoch);
                break;
            default:
                throw new DetSharpException(
                    $"{where}.policy '{lrConfig["policy"]}' is not supported; use one of: step, CosineAnnealing, poly, fixed, YOLOX.");
        }
        foreach (var key in lrConfig.Keys)
        {
            if (!known.Contains(key))
                throw new DetSharpException($"{where}: unexpected key '{key}' for policy '{lrConfig["policy"]}'; it accepts: {string.Join(", ", known.Order())}.");
        }
        var warmupName = lrConfig.Get<string?>("warmup", null);
        var warmup = warmupName switch
        {
            null => WarmupKind.None,
            "constant" => WarmupKind.Constant,
            "linear" => WarmupKind.Linear,
            "exp" => WarmupKind.Exp,
            _ => throw new DetSharpException($"{where}.warmup '{warmupName}' is not supported; use constant, linear or exp."),
        };
        return new LrSchedule(policy, warmup, lrConfig.Get("warmup_iters", 0), lrConfig.Get("warmup_ratio", 0.1), lrConfig.Get("warmup_by_epoch", false));
    }
}
