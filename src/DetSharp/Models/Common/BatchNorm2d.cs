using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// torch's <c>BatchNorm2d</c> (mmcv's <c>norm_cfg=dict(type='BN')</c>): the same module, state dict and class name (init_cfg
/// <c>layer='BatchNorm2d'</c> matches it), with one difference in how a frozen layer trains (<see cref="FrozenBatchNorm"/>).
/// </summary>
public sealed class BatchNorm2d(long numFeatures, double eps = 1e-5, double momentum = 0.1)
    : TorchSharp.Modules.BatchNorm(numFeatures, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: nameof(BatchNorm2d))
{
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.dim() != 4)
            throw new ArgumentException($"BatchNorm2d: expected 4D input (N, C, H, W), got {input.dim()}D input.");
    }

    public override Tensor forward(Tensor input) => FrozenBatchNorm.Forward(this, input) ?? base.forward(input);
}

/// <summary>
/// A BatchNorm layer that neither learns nor updates anything — eval mode (<c>norm_eval</c>) and <c>requires_grad=False</c>,
/// as in the zoo's caffe-style backbones — is a fixed per-channel affine map, torchvision's <c>FrozenBatchNorm2d</c>:
/// <c>x·scale + shift</c>. Trained through, that form keeps less for backward than libtorch's batch_norm, whose autograd
/// node saves its whole input even when only the input's gradient is wanted; the multiplication by a constant saves
/// nothing of the activation. A ResNet-50's trainable stages then keep about half the activations.
/// </summary>
public static class FrozenBatchNorm
{
    /// <summary>
    /// The affine form of <paramref name="bn"/> applied to <paramref name="input"/> when the layer is frozen and a gradient
    /// flows through it; null otherwise (libtorch's batch_norm is then the better kernel: inference, training statistics,
    /// learnable affine parameters).
    /// </summary>
    public static Tensor? Forward(TorchSharp.Modules.BatchNorm bn, Tensor input)
    {
        if (bn.training || !is_grad_enabled() || !input.requires_grad) return null;
        if (bn.weight is not { } weight || bn.bias is not { } bias || weight.requires_grad || bias.requires_grad) return null;
        if (bn.running_mean is not { } mean || bn.running_var is not { } variance) return null;
        using var scope = NewDisposeScope();
        var shape = new long[input.dim()];
        Array.Fill(shape, 1L);
        shape[1] = input.shape[1];
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
