using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>SamplingResult</c>: the sampled positive and negative boxes of one image, which GT each positive
/// matches, its label, and which positives are GT boxes added as proposals.
/// </summary>
public sealed class SamplingResult
{
    private readonly AssignResult _assignResult;

    public SamplingResult(Tensor posInds, Tensor negInds, Tensor bboxes, Tensor gtBboxes, AssignResult assignResult, Tensor gtFlags)
    {
        _assignResult = assignResult;
        PosInds = posInds;
        NegInds = negInds;
        PosBboxes = bboxes[posInds];
        NegBboxes = bboxes[negInds];
        PosIsGt = gtFlags[posInds];
        NumGts = gtBboxes.shape[0];
        PosAssignedGtInds = assignResult.GtInds[posInds] - 1;
        if (gtBboxes.numel() == 0)
            PosGtBboxes = empty_like(gtBboxes).view(-1, 4);
        else
            PosGtBboxes = gtBboxes.view(-1, 4)[PosAssignedGtInds];
        PosGtLabels = assignResult.Labels?[posInds];
    }

    public Tensor PosInds { get; }

    public Tensor NegInds { get; }

    public Tensor PosBboxes { get; }

    public Tensor NegBboxes { get; }

    public Tensor PosIsGt { get; }

    public long NumGts { get; }

    public Tensor PosAssignedGtInds { get; }

    public Tensor PosGtBboxes { get; }

    public Tensor? PosGtLabels { get; }

    /// <summary>Positives then negatives ([num_pos + num_neg, 4]).</summary>
    public Tensor Bboxes => cat([PosBboxes, NegBboxes]);

    /// <summary>Moves the result's tensors (and its assignment's) out of the sampler's dispose scope.</summary>
    public SamplingResult MoveToOuterDisposeScope()
    {
        foreach (var t in new[] { PosInds, NegInds, PosBboxes, NegBboxes, PosIsGt, PosAssignedGtInds, PosGtBboxes })
            t.MoveToOuterDisposeScope();
        PosGtLabels?.MoveToOuterDisposeScope();
        _assignResult.GtInds.MoveToOuterDisposeScope();
        _assignResult.MaxOverlaps.MoveToOuterDisposeScope();
        _assignResult.Labels?.MoveToOuterDisposeScope();
        return this;
    }
}
