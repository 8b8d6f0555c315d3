using DetSharp.Registry;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Optimizers;

/// <summary>
/// An entry of the OPTIMIZERS registry, as mmcv registers <c>torch.optim</c>'s classes: the optimizer's config arguments
/// (<c>optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)</c>) over the parameter groups that
/// <see cref="OptimizerBuilder"/> made (mmcv's DefaultOptimizerConstructor passes them as <c>params</c>).
/// </summary>
public abstract class TorchOptimizer
{
    /// <summary>The TorchSharp optimizer.</summary>
    public abstract OptimizerHelper Create();
}

/// <summary><c>torch.optim.SGD</c>; a group's own lr / weight decay (from <c>paramwise_cfg</c>) overrides the defaults.</summary>
[Register(Registries.OptimizersName, "SGD")]
public sealed class SgdOptimizer(IReadOnlyList<ParamGroupSpec> @params, double lr, double momentum = 0, double dampening = 0,
    double? weightDecay = null, bool nesterov = false) : TorchOptimizer
{
    public override OptimizerHelper Create() =>
        optim.SGD(@params.Select(s => new SGD.ParamGroup(s.Parameters, new SGD.Options { LearningRate = s.Lr, weight_decay = s.WeightDecay })),
            lr, momentum, dampening, weightDecay ?? 0.0, nesterov);
}

/// <summary><c>torch.optim.Adam</c> (weight decay added to the gradient).</summary>
[Register(Registries.OptimizersName, "Adam")]
public sealed class AdamOptimizer(IReadOnlyList<ParamGroupSpec> @params, double lr, double[]? betas = null, double eps = 1e-8,
    double? weightDecay = null, bool amsgrad = false) : TorchOptimizer
{
    public override OptimizerHelper Create()
    {
        var (beta1, beta2) = Betas.Of(betas);
        return optim.Adam(@params.Select(s => new Adam.ParamGroup(s.Parameters, new Adam.Options { LearningRate = s.Lr, weight_decay = s.WeightDecay })),
            lr, beta1, beta2, eps, weightDecay ?? 0.0, amsgrad);
    }
}

/// <summary><c>torch.optim.AdamW</c> (decoupled weight decay, 0.01 by default as in PyTorch).</summary>
[Register(Registries.OptimizersName, "AdamW")]
public sealed class AdamWOptimizer(IReadOnlyList<ParamGroupSpec> @params, double lr, double[]? betas = null, double eps = 1e-8,
    double? weightDecay = null, bool amsgrad = false) : TorchOptimizer
{
    public override OptimizerHelper Create()
    {
        var (beta1, beta2) = Betas.Of(betas);
        return optim.AdamW(@params.Select(s => new AdamW.ParamGroup(s.Parameters, new AdamW.Options { LearningRate = s.Lr, weight_decay = s.WeightDecay })),
            lr, beta1, beta2, eps, weightDecay ?? 0.01, amsgrad);
    }
}

internal static class Betas
{
    /// <summary>Adam's <c>betas=(0.9, 0.999)</c>.</summary>
    public static (double Beta1, double Beta2) Of(double[]? betas) => betas switch
    {
        null => (0.9, 0.999),
        [var b1, var b2] => (b1, b2),
        _ => throw new DetSharpException($"optimizer.betas must be a pair such as (0.9, 0.999), got {betas.Length} numbers."),
    };
}
