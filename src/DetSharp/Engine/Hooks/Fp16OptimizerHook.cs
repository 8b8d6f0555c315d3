using DetSharp.Config;
using DetSharp.Engine.Runners;
using DetSharp.Registry;

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

    public override void AfterTrainIter(BaseRunner runner)
    {
        var optimizer = runner.Optimizer ?? throw new InvalidOperationException("Fp16OptimizerHook needs an optimizer.");
        var outputs = runner.Outputs ?? throw new InvalidOperationException("no iteration outputs to back-propagate.");
        optimizer.zero_grad();
        using (var scaled = Scaler.ScaleLoss(outputs.Loss)) scaled.backward();
        DistributedDataParallel.AverageGradients(runner.Module, runner.ProcessGroup);
        bool finite = Scaler.Unscale(runner.Module.parameters().Where(p => p.requires_grad));
        if (finite)
        {
            ClipAndLog(runner, outputs.NumSamples);
            optimizer.step();
        }
        else
        {
            runner.Logger.Info($"Fp16OptimizerHook: gradients overflowed at loss scale {Scaler.Scale}; the step of iteration {runner.Iter + 1} is skipped.");
        }
        Scaler.Update(overflowed: !finite);
    }
}
