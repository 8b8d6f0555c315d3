using DetSharp.Config;
using DetSharp.Engine.Runners;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>Fp16OptimizerHook</c> (PyTorch ≥ 1.6 path), which MMDetection builds from <c>optimizer_config</c> and
/// <c>fp16 = dict(loss_scale=...)</c> for float16 training: the loss is scaled before backward (<see cref="GradScaler"/>),
/// the gradients are unscaled before clipping, and a step whose gradients overflowed is skipped (logged) instead of
/// stopping training. The weights stay float32 (autocast casts them per call), so there is no separate master copy to
/// keep. The scaler's state is not saved in checkpoints: a resumed dynamic run starts again from the initial scale.
/// </summary>
[Register(Registries.HooksName, "Fp16OptimizerHook")]
public sealed class Fp16OptimizerHook : OptimizerHook
{
    /// <param name="gradClip">As <see cref="OptimizerHook"/>'s.</param>
    /// <param name="lossScale">A number (static), 'dynamic' or a dict of GradScaler arguments; mmcv's default 512.</param>
    public Fp16OptimizerHook(ConfigDict? gradClip = null, object? lossScale = null)
        : base(gradClip)
    {
        Scaler = GradScaler.FromLossScale(lossScale ?? MixedPrecision.DefaultLossScale, "optimizer_config (Fp16OptimizerHook)");
    }

    public GradScaler Scaler { get; }

    protected override void Backward(Tensor loss)
    {
        using var scaled = Scaler.ScaleLoss(loss);
        scaled.backward();
    }

    protected override void Step(BaseRunner runner, optim.Optimizer optimizer, int numSamples)
    {
        bool finite = Scaler.Unscale(runner.Module.parameters().Where(p => p.requires_grad));
        if (finite)
        {
            base.Step(runner, optimizer, numSamples);
        }
        else
        {
            runner.Logger.Info($"Fp16OptimizerHook: gradients overflowed at loss scale {Scaler.Scale}; the step of iteration {runner.Iter + 1} is skipped.");
        }
        Scaler.Update(overflowed: !finite);
    }
}
