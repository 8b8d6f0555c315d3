using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>AssignResult</c>: per box, <c>gt_inds</c> (0 = negative, -1 = ignored, i+1 = assigned to GT i),
/// its max IoU, and the assigned label (-1 if none; null for RPN).
/// </summary>
public sealed class AssignResult(int numGts, Tensor gtInds, Tensor maxOverlaps, Tensor? labels)
{
    public int NumGts { get; private set; } = numGts;

    public Tensor GtInds { get; private set; } = gtInds;

    public Tensor MaxOverlaps { get; private set; } = maxOverlaps;

    public Tensor? Labels { get; private set; } = labels;

    /// <summary><c>add_gt_</c>: prepends the GT boxes themselves as positives of their own index.</summary>
    public void AddGt(Tensor gtLabels)
    {
        var selfInds = arange(1, gtLabels.shape[0] + 1, dtype: ScalarType.Int64, device: gtLabels.device);
        GtInds = cat([selfInds, GtInds]);
        MaxOverlaps = cat([ones(gtLabels.shape[0], MaxOverlaps.dtype, MaxOverlaps.device), MaxOverlaps]);
        if (Labels is not null) Labels = cat([gtLabels.to_type(Labels.dtype), Labels]);
    }

    /// <summary>Moves the result's tensors out of the current dispose scope (an assigner that computes it in its own scope).</summary>
    public AssignResult MoveToOuterDisposeScope()
    {
        GtInds.MoveToOuterDisposeScope();
        MaxOverlaps.MoveToOuterDisposeScope();
        Labels?.MoveToOuterDisposeScope();
        return this;
    }
}
