using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// torch's <c>BatchNorm2d</c> (mmcv's <c>norm_cfg=dict(type='BN')</c>): the same module, state dict and class name (init_cfg
/// <c>layer='BatchNorm2d'</c> matches it); with <see cref="AffineWhenFrozen"/> a frozen layer trains in less memory
/// (<see cref="FrozenBatchNorm"/>).
/// </summary>
public sealed class BatchNorm2d(long numFeatures, double eps = 1e-5, double momentum = 0.1)
    : TorchSharp.Modules.BatchNorm(numFeatures, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: nameof(BatchNorm2d)),
      IFreezableBatchNorm
{
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.dim() != 4)
            throw new ArgumentException($"BatchNorm2d: expected 4D input (N, C, H, W), got {input.dim()}D input.");
    }

    public bool AffineWhenFrozen { get; set; }

    public override Tensor forward(Tensor input) => FrozenBatchNorm.Forward(this, input) ?? base.forward(input);
}

/// <summary>DetSharp's BatchNorm layers (BN, SyncBN, MMSyncBN) that can train in <see cref="FrozenBatchNorm"/>'s affine form.</summary>
public interface IFreezableBatchNorm
{
    /// <summary>Frozen, apply the layer as its affine map (<see cref="FrozenBatchNorm"/>); set by <see cref="FrozenBatchNorm.Use"/>.</summary>
    bool AffineWhenFrozen { get; set; }
}

/// <summary>
/// A BatchNorm layer that neither learns nor updates anything — eval mode (<c>norm_eval</c>) and <c>requires_grad=False</c>,
/// as in the zoo's caffe-style backbones — is a fixed per-channel affine map, torchvision's <c>FrozenBatchNorm2d</c>:
/// <c>x·scale + shift</c>. Trained through, that form keeps less for backward than libtorch's batch_norm, whose autograd
/// node saves its whole input even when only the input's gradient is wanted; the multiplication by a constant saves
/// nothing of the activation. A ResNet-50's trainable stages then keep about half the activations (issue 26: one Mask
/// R-CNN R-50 training iteration at 1333×800, batch 2, float32, peaked at 3.74 instead of 4.60 GiB).
/// <para>Opt-in, by the DetSharp config key <c>frozen_bn_affine = True</c> (<see cref="Use"/>): the affine form equals
/// batch_norm's eval formula but not bit for bit (about a third of the outputs and input gradients differ in the last
/// bit: libtorch's kernels round the multiply-add and the backward's scale their own way), and those differences are enough to move a short, chaotic training run: the synthetic-shapes YOLOX
/// of the learning tests ended at bbox mAP 0.094 instead of 0.240 with it.</para>
/// </summary>
public static class FrozenBatchNorm
{
    /// <summary>The config key that switches the affine form on for training (<c>frozen_bn_affine = True</c>; default off).</summary>
    public const string ConfigKey = "frozen_bn_affine";

    /// <summary>Whether <paramref name="cfg"/> asks for the affine form (<see cref="ConfigKey"/>).</summary>
    public static bool Enabled(Config.Config cfg) => cfg.Get(ConfigKey, false);

    /// <summary>Switches the affine form on for every BatchNorm of <paramref name="model"/>; returns how many.</summary>
    public static int Use(nn.Module model)
    {
        int count = 0;
        foreach (var (_, m) in ModuleTools.SelfAndDescendants(model))
        {
            if (m is not IFreezableBatchNorm bn) continue;
            bn.AffineWhenFrozen = true;
            count++;
        }
        return count;
    }

    /// <summary>
    /// The affine form of <paramref name="bn"/> applied to <paramref name="input"/> when the layer is frozen and a gradient
    /// flows through it; null otherwise (libtorch's batch_norm is then the better kernel: inference, training statistics,
    /// learnable affine parameters).
    /// </summary>
    public static Tensor? Forward(TorchSharp.Modules.BatchNorm bn, Tensor input)
    {
        if (bn is not IFreezableBatchNorm { AffineWhenFrozen: true }) return null;
        if (bn.training || !is_grad_enabled() || !input.requires_grad) return null;
        if (bn.weight is not { } weight || bn.bias is not { } bias || weight.requires_grad || bias.requires_grad) return null;
        if (bn.running_mean is not { } mean || bn.running_var is not { } variance) return null;
        using var scope = NewDisposeScope();
        var shape = SyncBatchNormFunction.ChannelShape(input);
        Tensor scale, shift;
        using (no_grad())
        {
            scale = weight.mul(variance.add(bn.eps).rsqrt_());
            shift = bias.sub(mean.mul(scale));
        }
        // In the input's dtype: a bfloat16 activation stays bfloat16 (autocast), as batch_norm's output does.
        var output = input.mul(scale.to(input.dtype).view(shape)).add_(shift.to(input.dtype).view(shape));
        return output.MoveToOuterDisposeScope();
    }
}
