using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// The first step of MMDetection's <c>BaseSampler.sample</c>, shared by every sampler: the proposals' box columns and,
/// with <c>add_gt_as_proposals</c>, the GT boxes put in front of them (the assignment extended to match) and flagged.
/// </summary>
internal static class SamplerInputs
{
    /// <summary>[N, 4] boxes (GT first when added) and their byte flags (1 = a GT box added as a proposal).</summary>
    public static (Tensor Bboxes, Tensor GtFlags) Prepare(Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels, AssignResult assignResult,
        bool addGtAsProposals)
    {
        if (bboxes.dim() < 2) bboxes = bboxes.unsqueeze(0);
        bboxes = bboxes[.., 0..4];
        var gtFlags = zeros(bboxes.shape[0], ScalarType.Byte, bboxes.device);
        if (addGtAsProposals && gtBboxes.shape[0] > 0)
        {
            if (gtLabels is null) throw new ArgumentException("gt_labels must be given when add_gt_as_proposals is True.");
            bboxes = cat([gtBboxes.to_type(bboxes.dtype), bboxes]);
            assignResult.AddGt(gtLabels);
            gtFlags = cat([ones(gtBboxes.shape[0], ScalarType.Byte, bboxes.device), gtFlags]);
        }
        return (bboxes, gtFlags);
    }
}
