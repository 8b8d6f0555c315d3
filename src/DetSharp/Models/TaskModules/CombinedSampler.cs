using DetSharp.Config;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>CombinedSampler</c>: <c>BaseSampler.sample</c> (GT as proposals, the pos/neg budget) with the
/// positives picked by <c>pos_sampler</c> and the negatives by <c>neg_sampler</c>. Both are built with this sampler's
/// own <c>num</c>, <c>pos_fraction</c>, <c>neg_pos_ub</c> and <c>add_gt_as_proposals</c> as defaults (mmdet's
/// <c>build_sampler(cfg, **kwargs)</c>), so a bare <c>dict(type='InstanceBalancedPosSampler')</c> is complete.
/// </summary>
[Register(Registries.TaskModulesName, "CombinedSampler")]
public sealed class CombinedSampler : RandomSampler
{
    private readonly RandomSampler _posSampler;
    private readonly RandomSampler _negSampler;

    public CombinedSampler(ConfigDict posSampler, ConfigDict negSampler, int num, double posFraction, double negPosUb = -1,
        bool addGtAsProposals = true)
        : base(num, posFraction, negPosUb, addGtAsProposals)
    {
        var defaults = new Dictionary<string, object?>
        {
            ["num"] = (long)num,
            ["pos_fraction"] = posFraction,
            ["neg_pos_ub"] = negPosUb,
            ["add_gt_as_proposals"] = addGtAsProposals,
        };
        _posSampler = Registries.TaskModules.Build<RandomSampler>(posSampler, defaults);
        _negSampler = Registries.TaskModules.Build<RandomSampler>(negSampler, defaults);
    }

    protected internal override Tensor SamplePos(AssignResult assignResult, long numExpected) =>
        _posSampler.SamplePos(assignResult, numExpected);

    protected internal override Tensor SampleNeg(AssignResult assignResult, long numExpected) =>
        _negSampler.SampleNeg(assignResult, numExpected);
}
