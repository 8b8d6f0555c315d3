using System.Text.Json;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Tests.TestSupport;

namespace DetSharp.Tests.Models;

/// <summary>state_dict keys, order and shapes, and parameter counts, equal to MMDetection 2.25's for the fixture models.</summary>
public sealed class StateDictParityTests
{
    private const string Dir = "fixtures/mmdet/state_dicts/";

    [SharedFixtureTheory(Dir + "state_dict_summary.json")]
    [InlineData("mask_rcnn_r50_fpn_nc1")]
    [InlineData("mask_rcnn_r50_fpn_nc8")]
    [InlineData("mask_rcnn_r50_fpn_nc80")]
    [InlineData("cascade_mask_rcnn_r50_fpn_nc8")]
    [InlineData("seed_cascade_mask_rcnn_r50_fpn_cityscapes")]
    [InlineData("balloon_mask_rcnn_r50_caffe_fpn_nc1")]
    public void FixtureModelConfig_MatchesMmdetStateDict(string name)
    {
        using var model = ModelFixtures.Build(ModelFixtures.ModelConfig(SharedFixtures.FullPath(Dir + name + ".model_cfg.py")));
        AssertMatches(model, name);
    }

    [SharedFixtureTheory(Dir + "state_dict_summary.json")]
    [InlineData("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_nc80", null)]
    [InlineData("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_nc8", 8)]
    [InlineData("cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py", "cascade_mask_rcnn_r50_fpn_nc8", 8)]
    [InlineData("cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py", "mask_rcnn_r50_fpn_nc8", null)]
    [InlineData("balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py", "balloon_mask_rcnn_r50_caffe_fpn_nc1", null)]
    public void ShippedConfig_MatchesMmdetStateDict(string config, string name, int? numClasses)
    {
        var model = ModelFixtures.ModelConfig(ModelFixtures.RepoConfig(config));
        if (numClasses is { } nc)
        {
            foreach (var head in new[] { "bbox_head", "mask_head" })
            {
                switch (model.Get<object>("roi_head." + head))
                {
                    case ConfigDict d: d["num_classes"] = (long)nc; break;
                    case IList<object?> list:
                        foreach (var item in list) ((ConfigDict)item!)["num_classes"] = (long)nc;
                        break;
                }
            }
        }
        using var detector = ModelFixtures.Build(model);
        AssertMatches(detector, name);
    }

    private static void AssertMatches(TorchSharp.torch.nn.Module model, string name)
    {
        var expected = ModelFixtures.ReadTsv(Dir + name + ".state_dict.tsv");
        var actual = ModuleTools.StateDict(model).Select(e => (e.Key, ModuleTools.FormatShape(e.Value.shape))).ToList();
        var missing = expected.Select(e => e.Key).Except(actual.Select(a => a.Key)).Take(10).ToList();
        var extra = actual.Select(e => e.Key).Except(expected.Select(a => a.Key)).Take(10).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0, $"missing: {string.Join(", ", missing)}; unexpected: {string.Join(", ", extra)}");
        Assert.Equal(expected, actual);

        using var summary = SharedFixtures.LoadJson(Dir + "state_dict_summary.json");
        var entry = summary.RootElement.EnumerateArray().First(e => e.GetProperty("name").GetString() == name);
        var (total, trainable) = ModuleTools.CountParameters(model);
        Assert.Equal(entry.GetProperty("params").GetInt64(), total);
        Assert.Equal(entry.GetProperty("trainable_params").GetInt64(), trainable);
        Assert.Equal(entry.GetProperty("state_dict_entries").GetInt32(), actual.Count);
    }
}
