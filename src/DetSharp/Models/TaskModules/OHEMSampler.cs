using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>OHEMSampler</c> (Online Hard Example Mining): when an image has more positives (negatives) than
/// <c>num · pos_fraction</c> (the rest of <c>num</c>, bounded by <c>neg_pos_ub</c>), it keeps those the RoI head
/// currently finds hardest — the largest unreduced classification loss (<c>loss_key='loss_cls'</c>, the only loss
/// the bbox head computes without regression targets) against their assigned label, background for negatives — instead
/// of a random draw; indices come back sorted. Deterministic given the proposals and the head's weights.
/// </summary>
[Register(Registries.TaskModulesName, "OHEMSampler")]
public sealed class OHEMSampler : IRoIContextSampler
{
    public OHEMSampler(int num, double posFraction, double negPosUb = -1, bool addGtAsProposals = true, string lossKey = "loss_cls")
    {
        if (lossKey != "loss_cls")
            throw new DetSharpException($"OHEMSampler: loss_key '{lossKey}' is not supported; the bbox head mines with 'loss_cls' only.");
        (Num, PosFraction, NegPosUb, AddGtAsProposals) = (num, posFraction, negPosUb, addGtAsProposals);
    }

    public int Num { get; }

    public double PosFraction { get; }

    public double NegPosUb { get; }

    public bool AddGtAsProposals { get; }

    public (SamplingResult Result, Tensor? NegLabelWeights) Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels,
        RoISamplerContext context)
    {
        using var scope = NewDisposeScope();
        (bboxes, var gtFlags) = SamplerInputs.Prepare(bboxes, gtBboxes, gtLabels, assignResult, AddGtAsProposals);
        var posCandidates = nonzero(assignResult.GtInds > 0).view(-1);
        var posLabels = assignResult.Labels ?? throw new ArgumentException("OHEMSampler needs an assignment with labels (gt_labels).");
        var posInds = HardMining(posCandidates, (int)(Num * PosFraction), bboxes, posLabels[posCandidates], context).unique().Item1;
        long numSampledPos = posInds.numel();
        long numExpectedNeg = Num - numSampledPos;
        if (NegPosUb >= 0) numExpectedNeg = Math.Min(numExpectedNeg, (long)(NegPosUb * Math.Max(1, numSampledPos)));
        var negCandidates = nonzero(assignResult.GtInds == 0).view(-1);
        var negLabels = full(negCandidates.numel(), (long)context.NumClasses, ScalarType.Int64, bboxes.device);
        var negInds = HardMining(negCandidates, numExpectedNeg, bboxes, negLabels, context).unique().Item1;
        var result = new SamplingResult(posInds, negInds, bboxes, gtBboxes, assignResult, gtFlags).MoveToOuterDisposeScope();
        return (result, null);
    }

    /// <summary>All candidates when they are few enough, else the <paramref name="numExpected"/> with the largest classification loss.</summary>
    private static Tensor HardMining(Tensor inds, long numExpected, Tensor bboxes, Tensor labels, RoISamplerContext context)
    {
        if (inds.numel() <= numExpected) return inds;
        using var noGrad = no_grad();
        var candidates = bboxes[inds];
        var rois = cat([zeros(candidates.shape[0], 1, candidates.dtype, candidates.device), candidates], 1);
        var (clsScore, _) = context.BboxForward(rois);
        var loss = context.LossCls.Forward(clsScore, labels, ones(clsScore.shape[0], clsScore.dtype, clsScore.device), reductionOverride: "none");
        return inds[loss.topk((int)numExpected).indexes];
    }
}
