using DetSharp.Models.Losses;
using DetSharp.Ops;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// What a sampler that scores candidates with the RoI head itself needs from it (MMDetection passes the head as the
/// sampler's <c>context</c>): the bbox branch on one image's [K, 5] RoIs, its classification loss, coder and classes.
/// </summary>
public sealed record RoISamplerContext(Func<Tensor, (Tensor ClsScore, Tensor BboxPred)> BboxForward, LossBase LossCls, IBBoxCoder BboxCoder, int NumClasses);

/// <summary>A sampler that scores the candidates with the RoI head and returns a loss weight per sampled negative.</summary>
public interface IRoIContextSampler
{
    (SamplingResult Result, Tensor? NegLabelWeights) Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels, RoISamplerContext context);
}

/// <summary>
/// MMDetection's <c>ScoreHLRSampler</c>, PISA's ISR-N (Importance-based Sample Reweighting of the negatives):
/// positives as <see cref="RandomSampler"/> (not re-sorted); negatives are scored by the head — those whose best
/// foreground score exceeds <c>score_thr</c> are grouped by <see cref="NmsMatch"/> (<c>iou_thr</c>) on their boxes
/// decoded with that class, ranked by importance (group size-independent rank within the group, then score: the
/// score hierarchical local rank), and the best are taken first, topped up at random from the rest. Their label weights
/// (bias + (1 − bias)·(up_bound − rank)/up_bound)^k (the random ones take the smallest), rescaled so that the selected
/// negatives' classification loss keeps its sum.
/// </summary>
[Register(Registries.TaskModulesName, "ScoreHLRSampler")]
public sealed class ScoreHLRSampler(int num, double posFraction, double negPosUb = -1, bool addGtAsProposals = true, double k = 0.5,
    double bias = 0, double scoreThr = 0.05, double iouThr = 0.5) : IRoIContextSampler
{
    public int Num { get; } = num;

    public double PosFraction { get; } = posFraction;

    public double NegPosUb { get; } = negPosUb;

    public bool AddGtAsProposals { get; } = addGtAsProposals;

    public double K { get; } = k;

    public double Bias { get; } = bias;

    public double ScoreThr { get; } = scoreThr;

    public double IouThr { get; } = iouThr;

    public (SamplingResult Result, Tensor? NegLabelWeights) Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels,
        RoISamplerContext context)
    {
        // With no GT boxes, prepending none (as mmdet does here) and not prepending are the same.
        (bboxes, var gtFlags) = SamplerInputs.Prepare(bboxes, gtBboxes, gtLabels, assignResult, AddGtAsProposals);
        int numExpectedPos = (int)(Num * PosFraction);
        var posInds = nonzero(assignResult.GtInds > 0).view(-1);
        if (posInds.numel() > numExpectedPos) posInds = posInds[randperm(posInds.numel(), device: posInds.device)[..numExpectedPos]];
        long numSampledPos = posInds.numel();
        long numExpectedNeg = Num - numSampledPos;
        if (NegPosUb >= 0) numExpectedNeg = Math.Min(numExpectedNeg, (long)(NegPosUb * Math.Max(1, numSampledPos)));
        var (negInds, negLabelWeights) = SampleNeg(assignResult, numExpectedNeg, bboxes, context);
        return (new SamplingResult(posInds, negInds, bboxes, gtBboxes, assignResult, gtFlags), negLabelWeights);
    }

    private (Tensor NegInds, Tensor? Weights) SampleNeg(AssignResult assignResult, long numExpected, Tensor bboxes, RoISamplerContext context)
    {
        var negInds = nonzero(assignResult.GtInds == 0).view(-1);
        long numNeg = negInds.numel();
        if (numNeg == 0) return (negInds, null);
        using var noGrad = no_grad();
        var negRois = cat([zeros(numNeg, 1, bboxes.dtype, bboxes.device), bboxes[negInds]], 1);
        var (clsScore, bboxPred) = context.BboxForward(negRois);
        var bgLabels = full(numNeg, (long)context.NumClasses, ScalarType.Int64, bboxes.device);
        var oriLoss = context.LossCls.Forward(clsScore, bgLabels, ones(numNeg, clsScore.dtype, clsScore.device), reductionOverride: "none");
        var (maxScore, argmaxScore) = clsScore.softmax(-1)[.., ..^1].max(-1);
        var validInds = nonzero(maxScore > ScoreThr).view(-1);
        var invalidInds = nonzero(maxScore <= ScoreThr).view(-1);
        long numValid = validInds.numel(), numInvalid = invalidInds.numel();
        numExpected = Math.Min(numNeg, numExpected);
        long numHlr = Math.Min(numValid, numExpected);
        long numRand = numExpected - numHlr;
        if (numExpected == 0) return (negInds[..0], zeros(0, clsScore.dtype, clsScore.device));
        if (numValid == 0)
            return (negInds[randperm(numNeg, device: negInds.device)[..(int)numExpected]], ones(numExpected, clsScore.dtype, clsScore.device));

        var validMaxScore = maxScore[validInds];
        var validBboxPred = bboxPred[validInds].view(numValid, -1, 4);
        // class-agnostic regression has one box per RoI; otherwise the box of the best class
        var selected = validBboxPred.shape[1] == 1 ? validBboxPred[.., 0] : validBboxPred[arange(numValid, device: bboxPred.device), argmaxScore[validInds]];
        var predBboxes = context.BboxCoder.Decode(negRois[validInds][.., 1..], selected);
        var groups = NmsMatch.Groups(cat([predBboxes, validMaxScore.unsqueeze(1)], -1), IouThr);
        // importance: num_valid − rank within the group + score, so every group's best come before any group's second
        var imp = zeros(numValid, clsScore.dtype, clsScore.device);
        foreach (var g in groups)
        {
            var gi = tensor(g, device: imp.device);
            imp[gi] = numValid - arange(g.Length, clsScore.dtype, imp.device) + validMaxScore[gi];
        }
        var impRankInds = imp.sort(descending: true).Indices;
        var impRank = impRankInds.sort().Indices;
        var hlrInds = impRankInds[..(int)numExpected];
        var selectInds = numRand > 0
            ? cat([validInds[hlrInds], invalidInds[randperm(numInvalid, device: invalidInds.device)[..(int)numRand]]])
            : validInds[hlrInds];
        long upBound = Math.Max(numExpected, numValid);
        var impWeights = (upBound - impRank[hlrInds].to_type(clsScore.dtype)) / upBound;
        var weights = ones(numExpected, clsScore.dtype, clsScore.device);
        weights[..(int)numHlr] = impWeights;
        weights[(int)numHlr..] = impWeights.min();
        weights = (Bias + (1 - Bias) * weights).pow(K);
        var oriSelected = oriLoss[selectInds];
        weights = weights * (oriSelected.sum() / (oriSelected * weights).sum());
        return (negInds[selectInds], weights);
    }
}
