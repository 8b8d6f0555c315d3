using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Backbones;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using DetSharp.Tests.Engine;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Weights;

/// <summary>
/// MMDetection checkpoints in and out: mmcv's {meta, state_dict, optimizer} and bare state dicts load, <c>module.</c>
/// is stripped, loading is non-strict with mmcv's report, and init_cfg 'Pretrained' honours <c>prefix</c>.
/// </summary>
public sealed class CheckpointInterchangeTests
{
    private const string Dir = "fixtures/mmdet/parity/";

    private static ConfigDict SlimModel(string name) =>
        ModelFixtures.ModelConfig(SharedData.FullPath(Dir + name + "_slim.model_config.py"));

    [SharedTheory(Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void Slim_parity_checkpoints_load_with_an_empty_report(string name)
    {
        using var model = ModelFixtures.Build(SlimModel(name));
        var sd = PretrainedWeights.Read(SharedData.FullPath(Dir + name + "_slim.pth"));
        var report = Checkpoint.LoadStateDict(model, sd, strict: false);
        Assert.Empty(report.MissingKeys);
        Assert.Empty(report.UnexpectedKeys);
        Assert.Empty(report.SizeMismatches);
        Assert.Null(report.Message);
        Assert.Equal(model.state_dict().Count, report.Loaded.Count);
    }

    [SharedTheory(Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void A_different_num_classes_skips_exactly_the_class_dependent_head_tensors(string name)
    {
        var cfg = SlimModel(name);
        var roi = cfg.Get<ConfigDict>("roi_head");
        string[] expected;
        if (roi["bbox_head"] is ConfigList stages)
        {
            foreach (var stage in stages.Cast<ConfigDict>()) stage["num_classes"] = 3L;
            roi.Get<ConfigDict>("mask_head")["num_classes"] = 3L;
            // Cascade: class-agnostic regression (fc_reg keeps 4 outputs); the mask head is repeated per stage.
            expected = [.. Enumerable.Range(0, 3).SelectMany(i => new[] { $"roi_head.bbox_head.{i}.fc_cls.weight", $"roi_head.bbox_head.{i}.fc_cls.bias" }),
                        .. Enumerable.Range(0, 3).SelectMany(i => new[] { $"roi_head.mask_head.{i}.conv_logits.weight", $"roi_head.mask_head.{i}.conv_logits.bias" })];
        }
        else
        {
            roi.Get<ConfigDict>("bbox_head")["num_classes"] = 3L;
            roi.Get<ConfigDict>("mask_head")["num_classes"] = 3L;
            expected = ["roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.fc_cls.bias", "roi_head.bbox_head.fc_reg.weight",
                        "roi_head.bbox_head.fc_reg.bias", "roi_head.mask_head.conv_logits.weight", "roi_head.mask_head.conv_logits.bias"];
        }
        using var model = ModelFixtures.Build(cfg);
        var sd = PretrainedWeights.Read(SharedData.FullPath(Dir + name + "_slim.pth"));
        var report = Checkpoint.LoadStateDict(model, sd, strict: false);
        Assert.Empty(report.MissingKeys);
        Assert.Empty(report.UnexpectedKeys);
        var skipped = report.SizeMismatches.Select(m => m["size mismatch for ".Length..m.IndexOf(':')]).ToList();
        Assert.Equal(expected.Order(), skipped.Order());
        Assert.Contains("size mismatch for roi_head.mask_head", report.Message!);
        Assert.Equal(model.state_dict().Count - expected.Length, report.Loaded.Count);
        Assert.Throws<DetSharpException>(() => Checkpoint.LoadStateDict(model, sd, strict: true));
    }

    [SharedFact(Dir + "mask_rcnn_slim.pth")]
    public void A_bare_state_dict_with_module_prefixes_loads_like_the_mmcv_checkpoint()
    {
        using var dir = new TempDir();
        var original = PretrainedWeights.Read(SharedData.FullPath(Dir + "mask_rcnn_slim.pth"));
        var bare = new PyDict(isOrderedDict: true);
        foreach (var (k, v) in original) bare["module." + k] = v;
        string path = Path.Combine(dir.Path, "bare.pth");
        Checkpoint.WriteAtomically(path, s => TorchSerialization.Save(bare, s));

        var read = PretrainedWeights.Read(path);
        Assert.Equal(original.Keys, read.Keys);
        Assert.All(original, kv => Assert.True(kv.Value.equal(read[kv.Key]).all().item<bool>(), kv.Key));
        using var model = ModelFixtures.Build(SlimModel("mask_rcnn"));
        Assert.True(Checkpoint.LoadStateDict(model, read).ExactMatch);
    }

    [SharedFact(Dir + "mask_rcnn_slim.pth")]
    public void Init_cfg_pretrained_with_prefix_loads_the_backbone_part_of_a_detector_checkpoint()
    {
        string ckpt = SharedData.FullPath(Dir + "mask_rcnn_slim.pth");
        ComponentRegistration.EnsureRegistered();
        var cfg = new ConfigDict
        {
            { "type", "ResNet" }, { "depth", 18L }, { "base_channels", 16L },
            { "init_cfg", new ConfigDict { { "type", "Pretrained" }, { "checkpoint", ckpt }, { "prefix", "backbone." } } },
        };
        using var backbone = Registries.Models.Build<ResNet>(cfg);
        var logged = new List<string>();
        var load = Assert.Single(PretrainedInit.InitWeights(backbone, logged.Add));
        Assert.Equal("", load.Module);
        Assert.True(load.Report.ExactMatch, load.Report.Message);
        Assert.Contains($"load backbone. in model from: {ckpt}", logged[0]);
        var sd = PretrainedWeights.Read(ckpt);
        Assert.True(backbone.state_dict()["layer4.1.conv2.weight"].equal(sd["backbone.layer4.1.conv2.weight"]).all().item<bool>());

        // A prefix that is not there is an error naming it, as mmcv's.
        cfg.Get<ConfigDict>("init_cfg")["prefix"] = "encoder";
        using var other = Registries.Models.Build<ResNet>(cfg);
        var e = Assert.Throws<DetSharpException>(() => PretrainedInit.InitWeights(other));
        Assert.Contains("encoder. is not in the pretrained model", e.Message);
    }

    [Fact]
    public void Unknown_schemes_say_what_to_do_instead()
    {
        // torchvision://, open-mmlab://, http(s):// ... are read since issue 23 (CheckpointUrlTests); pavi:// and s3:// are not.
        var e = Assert.Throws<DetSharpException>(() => PretrainedWeights.Read("s3://bucket/resnet50.pth"));
        Assert.Contains("'s3://' is not a scheme DetSharp reads", e.Message);
        Assert.Contains("nuget://resnet18-imagenet", e.Message);
        Assert.Throws<DetSharpException>(() => PretrainedWeights.Read("/nonexistent/weights.pth"));
    }
}
