using DetSharp.Core.Tests.Parity;

namespace DetSharp.Tests.Models;

/// <summary>state_dict keys, order and shapes, and parameter counts, equal to MMDetection 2.25's for the fixture models.</summary>
public sealed class StateDictParityTests
{
    [SharedTheory(StateDictParity.Dir + "state_dict_summary.json")]
    [InlineData("mask_rcnn_r50_fpn_nc1")]
    [InlineData("mask_rcnn_r50_fpn_nc8")]
    [InlineData("mask_rcnn_r50_fpn_nc80")]
    [InlineData("cascade_mask_rcnn_r50_fpn_nc8")]
    [InlineData("seed_cascade_mask_rcnn_r50_fpn_cityscapes")]
    [InlineData("balloon_mask_rcnn_r50_caffe_fpn_nc1")]
    public void FixtureModelConfig_MatchesMmdetStateDict(string name)
    {
        using var model = StateDictParity.BuildVariant(name);
        ParityAssert.AllPass(StateDictParity.Measure(model, name, StateDictParity.VariantFixtureName(name)));
    }

    public static TheoryData<string, string, int?> ShippedCases => StateDictParity.ShippedCases;

    [SharedTheory(StateDictParity.Dir + "state_dict_summary.json")]
    [MemberData(nameof(ShippedCases))]
    public void ShippedConfig_MatchesMmdetStateDict(string config, string name, int? numClasses)
    {
        using var detector = StateDictParity.BuildShipped(config, numClasses);
        ParityAssert.AllPass(StateDictParity.Measure(detector, name, StateDictParity.ShippedFixtureName(config, name, numClasses)));
    }
}
