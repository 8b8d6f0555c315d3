using DetSharp.Config;
using DetSharp.Engine.Runners;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// mmcv's <c>OptimizerHook</c> (<c>optimizer_config</c>): after each training iteration zero the gradients,
/// back-propagate the total loss, average the gradients over the ranks of a distributed run, optionally clip the global gradient norm over trainable parameters
/// (<c>grad_clip=dict(max_norm=35, norm_type=2)</c>, logging <c>grad_norm</c>) and step the optimizer.
/// A non-finite gradient norm stops training before the step.
/// </summary>
[Register(Registries.HooksName, "OptimizerHook")]
public class OptimizerHook : Hook
{
    /// <summary><c>optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2))</c>; <c>grad_clip=None</c> does not clip.</summary>
    public OptimizerHook(ConfigDict? gradClip = null)
    {
        if (gradClip is null) return;
        string where = gradClip.Path.Length == 0 ? "optimizer_config.grad_clip" : gradClip.Path;
        foreach (var key in gradClip.Keys)
            if (key != "max_norm" && key != "norm_type")
                throw new DetSharpException($"{where}: unexpected key '{key}'; it accepts max_norm, norm_type.");
        MaxNorm = gradClip.Get<double>("max_norm");
        NormType = gradClip.Get("norm_type", 2.0);
    }

    public double? MaxNorm { get; }

    public double NormType { get; } = 2.0;

    public override HookPriority DefaultPriority => HookPriority.AboveNormal;

    /// <summary>Clips the gradients of <paramref name="module"/>'s trainable parameters to <see cref="MaxNorm"/> and returns their norm (null without clipping).</summary>
    public double? ClipGradients(nn.Module module)
    {
        if (MaxNorm is not { } maxNorm) return null;
        var parameters = module.parameters().Where(p => p.requires_grad && p.grad is not null).ToList();
        return parameters.Count > 0 ? nn.utils.clip_grad_norm_(parameters, maxNorm, NormType) : null;
    }

    public override void AfterTrainIter(BaseRunner runner)
    {
        var optimizer = runner.Optimizer ?? throw new InvalidOperationException("OptimizerHook needs an optimizer.");
        var outputs = runner.Outputs ?? throw new InvalidOperationException("no iteration outputs to back-propagate.");
        using (Profiler.Scope(ProfilerSections.OptimizerStep))
        {
            optimizer.zero_grad();
            RestoreGradients();
        }
        // What the forward pass freed goes back to the system before backward allocates the gradients (NativeHeap).
        using (Profiler.Scope(ProfilerSections.HeapTrim)) NativeHeap.ReleaseFreeMemory();
        // One autograd call for the whole model: libtorch runs every module's backward inside it, so it is not split by module.
        using (Profiler.Scope(ProfilerSections.Backward)) Backward(outputs.Loss);
        // Distributed: the gradients averaged over the ranks (a no-op for one process), before clipping, as DDP's are.
        DistributedDataParallel.AverageGradients(runner.Module, runner.ProcessGroup);
        using var timed = Profiler.Scope(ProfilerSections.OptimizerStep);
        Step(runner, optimizer, outputs.NumSamples);
        ReleaseGradients(optimizer);
    }

    // The parameters whose gradients ReleaseGradients freed, to be given zero gradients again by the next zero_grad.
    private readonly List<Parameter> _released = [];

    /// <summary>
    /// Frees the gradients once the step has used them, so that they do not sit through the next forward pass, where a
    /// training iteration peaks (issue 26: Mask R-CNN R-50's 44 M gradients are 176 MB in float32).
    /// <see cref="RestoreGradients"/> gives the same parameters zero gradients at the next zero_grad, before backward, so
    /// that everything from there on is as mmcv's <c>zero_grad()</c> with torch 1.x: a parameter that receives no
    /// gradient still takes its weight decay and momentum step with a zero gradient instead of being skipped.
    /// </summary>
    private void ReleaseGradients(optim.Optimizer optimizer)
    {
        _released.Clear();
        foreach (var p in optimizer.parameters())
        {
            using var grad = p.grad;
            if (grad is null) continue;
            _released.Add(p);
            p.grad = null;
        }
    }

    /// <summary>Zero gradients, in the parameters' own layout (the gradient layout torch keeps), for the released ones.</summary>
    private void RestoreGradients()
    {
        foreach (var p in _released)
        {
            using var zeros = zeros_like(p);
            p.grad = zeros;
        }
        _released.Clear();
    }

    /// <summary>Back-propagates the iteration's loss (Fp16OptimizerHook scales it first).</summary>
    protected virtual void Backward(Tensor loss) => loss.backward();

    /// <summary>Clips, logs and steps on the averaged gradients (Fp16OptimizerHook unscales them and may skip the step).</summary>
    protected virtual void Step(BaseRunner runner, optim.Optimizer optimizer, int numSamples)
    {
        ClipAndLog(runner, numSamples);
        optimizer.step();
    }

    /// <summary>Clips the gradients (<c>grad_clip</c>) and logs their norm; a non-finite norm stops training before the step.</summary>
    protected void ClipAndLog(BaseRunner runner, int numSamples)
    {
        if (ClipGradients(runner.Module) is not { } norm) return;
        if (!double.IsFinite(norm))
        {
            string where = runner.ByEpoch ? $"epoch {runner.Epoch + 1}, iteration {runner.InnerIter + 1} (global iteration {runner.Iter + 1})" : $"iteration {runner.Iter + 1}";
            throw new TrainingDivergedException(
                $"the gradient norm became {(double.IsNaN(norm) ? "NaN" : "infinite")} at {where}; training stopped before the update, and checkpoints already saved in {runner.WorkDir} are intact. Lower optimizer.lr or lengthen lr_config.warmup_iters.");
        }
        runner.LogBuffer.Update([new("grad_norm", norm)], numSamples);
    }
}
