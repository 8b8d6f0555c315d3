using DetSharp.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>How <see cref="SyncBatchNorm"/> combines the ranks' batch statistics.</summary>
public enum SyncBatchNormStats
{
    /// <summary>torch's <c>SyncBatchNorm</c> (<c>SyncBN</c>): weighted by each rank's element count N·H·W, the statistics of the whole batch.</summary>
    Count,

    /// <summary>mmcv's <c>MMSyncBN</c> with <c>stats_mode='default'</c>: every rank's mean and variance weigh the same.</summary>
    Default,

    /// <summary>mmcv's <c>MMSyncBN</c> with <c>stats_mode='N'</c>: weighted by each rank's batch size N (an empty rank weighs nothing).</summary>
    N,
}

/// <summary>
/// Batch normalisation whose training-mode batch statistics span every rank of the <see cref="ProcessGroup"/>: torch's
/// <c>SyncBatchNorm</c> (<c>norm_cfg=dict(type='SyncBN')</c>) and mmcv's <c>SyncBatchNorm</c> (<c>MMSyncBN</c>, see
/// <see cref="SyncBatchNormStats"/>). A BatchNorm (mmcv's <c>_BatchNorm</c>: <c>norm_eval</c> and the initialisers treat it
/// as one) with BatchNorm's state dict. In eval mode, and in a world of one process (the default group, as torch's
/// <c>SyncBatchNorm</c> without an initialised process group), it is plain BatchNorm.
/// <para>Distributed training: per channel the ranks all-reduce their weighted means, then their weighted mean squared
/// deviations from the common mean (two collectives, as mmcv; no sum-of-squares cancellation), the running mean and the
/// unbiased running variance follow from the common statistics as torch's, and <see cref="SyncBatchNormFunction"/>
/// all-reduces the gradient sums in backward. Every rank must run the same SyncBN layers in the same order (as in torch);
/// <see cref="UseProcessGroup"/> attaches the run's group to every layer of a model.</para>
/// </summary>
public sealed class SyncBatchNorm : TorchSharp.Modules.BatchNorm, IFreezableBatchNorm
{
    public SyncBatchNorm(long numFeatures, double eps = 1e-5, double momentum = 0.1, SyncBatchNormStats stats = SyncBatchNormStats.Count)
        : base(numFeatures, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: nameof(SyncBatchNorm))
    {
        Stats = stats;
    }

    public SyncBatchNormStats Stats { get; }

    public bool AffineWhenFrozen { get; set; }

    /// <summary>The ranks whose statistics are combined; the world of one (plain BatchNorm) until a run attaches its group.</summary>
    public IProcessGroup ProcessGroup { get; set; } = SingleProcessGroup.Instance;

    /// <summary>Sets <paramref name="group"/> on every <see cref="SyncBatchNorm"/> of <paramref name="model"/>; returns how many.</summary>
    public static int UseProcessGroup(nn.Module model, IProcessGroup group)
    {
        int count = 0;
        foreach (var (_, m) in model.named_modules())
        {
            if (m is not SyncBatchNorm bn) continue;
            bn.ProcessGroup = group;
            count++;
        }
        return count;
    }

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.dim() < 2)
            throw new ArgumentException($"SyncBatchNorm: expected at least 2D input (N, C, ...), got {input.dim()}D input.");
    }

    public override Tensor forward(Tensor input)
    {
        if (!training || !ProcessGroup.IsDistributed) return FrozenBatchNorm.Forward(this, input) ?? base.forward(input);
        ValidateInputDimensions(input);
        var (mean, variance, unbiasedCount, denominator, update) = GatherStatistics(input);
        using (no_grad())
        {
            // The buffers exist: this layer always tracks running statistics (track_running_stats=True, as build_norm_layer's).
            num_batches_tracked!.add_(1);
            if (update)
            {
                // momentum None: the cumulative moving average, as torch.
                double factor = momentum ?? 1.0 / num_batches_tracked.item<long>();
                double correction = unbiasedCount > 1 ? unbiasedCount / (unbiasedCount - 1) : 1;
                running_mean!.mul_(1 - factor).add_(mean.to(running_mean!.dtype), alpha: factor);
                running_var!.mul_(1 - factor).add_(variance.to(running_var!.dtype), alpha: factor * correction);
            }
        }
        var invStd = variance.add(eps).rsqrt().to(input.dtype);
        return SyncBatchNormFunction.apply(input, weight!, bias!, mean.to(input.dtype), invStd, ProcessGroup, denominator);
    }

    /// <summary>
    /// The common mean and (biased) variance per channel in float64, the element count behind the unbiased running variance,
    /// the denominator of the gradient means in backward (torch: the total element count; mmcv: the local count × world size,
    /// as its backward) and whether any rank had data (mmcv leaves the running statistics alone when none had).
    /// </summary>
    private (Tensor Mean, Tensor Variance, double UnbiasedCount, double Denominator, bool Update) GatherStatistics(Tensor input)
    {
        using var noGrad = no_grad();
        // The float64 copy of the activations goes as soon as the statistics are known.
        using var scope = NewDisposeScope();
        long channels = input.shape[1];
        long batch = input.shape[0];
        long count = channels == 0 ? 0 : input.numel() / channels;
        int world = ProcessGroup.WorldSize;
        var dims = Enumerable.Range(0, (int)input.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
        var x = input.detach().to_type(ScalarType.Float64);
        double weight = Stats switch { SyncBatchNormStats.Count => count, SyncBatchNormStats.N => batch, _ => 1 };

        // First collective: Σ w·mean_r per channel, Σ w, Σ count.
        var local = count > 0 ? x.mean(dims).cpu().data<double>().ToArray() : new double[channels];
        var first = new double[channels + 2];
        for (int c = 0; c < channels; c++) first[c] = weight * local[c];
        first[channels] = weight;
        first[channels + 1] = count;
        ProcessGroup.AllReduceSum(first);
        double totalCount = first[channels + 1];
        double weights = Stats == SyncBatchNormStats.Default ? world : Math.Max(first[channels], 1);
        var mean = tensor(first.AsSpan(0, (int)channels).ToArray(), ScalarType.Float64).div_(weights);

        // Second collective: Σ w·mean_r((x − mean)²), the common variance about the common mean.
        var shape = Enumerable.Repeat(1L, (int)input.dim()).ToArray();
        shape[1] = channels;
        var second = count > 0
            ? x.sub(mean.to(x.device).view(shape)).pow_(2).mean(dims).mul_(weight).cpu().data<double>().ToArray()
            : new double[channels];
        ProcessGroup.AllReduceSum(second);
        var variance = tensor(second, ScalarType.Float64).div_(weights);

        bool torchCounts = Stats == SyncBatchNormStats.Count;
        double unbiasedCount = torchCounts ? totalCount : (double)count * world;
        double denominator = Math.Max(torchCounts ? totalCount : (double)count * world, 1);
        return (scope.MoveToOuter(mean.to(input.device)), scope.MoveToOuter(variance.to(input.device)), unbiasedCount, denominator, totalCount > 0);
    }
}
