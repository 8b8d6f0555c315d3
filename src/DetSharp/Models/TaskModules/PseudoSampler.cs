using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>PseudoSampler</c>: takes every assigned candidate, no sampling — positives are the candidates with a
/// GT, negatives those assigned background (indices sorted). Used by heads whose loss weighs all anchors itself
/// (FocalLoss) and whenever a train_cfg has no sampler.
/// </summary>
[Register(Registries.TaskModulesName, "PseudoSampler")]
public sealed class PseudoSampler : IBBoxSampler
{
    public SamplingResult Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels = null)
    {
        using var scope = NewDisposeScope();
        var posInds = nonzero(assignResult.GtInds > 0).squeeze(-1).unique().Item1;
        var negInds = nonzero(assignResult.GtInds == 0).squeeze(-1).unique().Item1;
        var gtFlags = zeros(bboxes.shape[0], ScalarType.Byte, bboxes.device);
        return new SamplingResult(posInds, negInds, bboxes[.., 0..4], gtBboxes, assignResult, gtFlags).MoveToOuterDisposeScope();
    }
}
