using DetSharp.Core.Tests.TestSupport;
using DetSharp.IO;

namespace DetSharp.Core.Tests.IO;

/// <summary>Issue 23: mmcv's checkpoint schemes and model-zoo tables (mmcv 1.7.1 model_zoo/*.json, embedded).</summary>
public sealed class ModelZooTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private TorchHubOptions Options => new()
    {
        CheckpointsDir = Path.Combine(_dir.Path, "torch", "hub", "checkpoints"),
        MmcvHome = Path.Combine(_dir.Path, "mmcv"),
    };

    [Theory]
    // Entries of mmcv's tables, checked against the files in /work/oracle/mmcv/mmcv/model_zoo.
    [InlineData("torchvision://resnet50", "https://download.pytorch.org/models/resnet50-0676ba61.pth")]
    [InlineData("torchvision://ResNet50_Weights", "https://download.pytorch.org/models/resnet50-0676ba61.pth")]
    [InlineData("modelzoo://resnet101", "https://download.pytorch.org/models/resnet101-63fe2227.pth")]
    [InlineData("open-mmlab://detectron2/resnet50_caffe", "https://download.openmmlab.com/pretrain/third_party/resnet50_msra-5891d200.pth")]
    [InlineData("openmmlab://detectron2/resnet50_caffe", "https://download.openmmlab.com/pretrain/third_party/resnet50_msra-5891d200.pth")]
    [InlineData("open-mmlab://resnext101_64x4d", "https://download.openmmlab.com/pretrain/third_party/resnext101_64x4d-ee2c6f71.pth")]
    [InlineData("mmcls://resnet50", "https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth")]
    [InlineData("https://host/a/b-0123abcd.pth", "https://host/a/b-0123abcd.pth")]
    public void Names_map_to_mmcvs_urls(string name, string url) => Assert.Equal(url, ModelZoo.Target(name, Options));

    [Fact]
    public void Deprecated_open_mmlab_names_are_renamed_with_a_note()
    {
        var log = new List<string>();
        Assert.Equal("https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth",
            ModelZoo.Target("open-mmlab://resnet50_caffe", Options, log.Add));
        Assert.Equal(["open-mmlab://resnet50_caffe is deprecated in favor of open-mmlab://detectron/resnet50_caffe"], log);
    }

    [Fact]
    public void Mmcv_homes_open_mmlab_json_adds_names_and_local_entries_are_files_there()
    {
        Directory.CreateDirectory(Options.MmcvHome);
        File.WriteAllText(Path.Combine(Options.MmcvHome, "open_mmlab.json"), """{"my/backbone": "weights/backbone.pth"}""");
        var e = Assert.Throws<DetSharpException>(() => ModelZoo.Resolve("open-mmlab://my/backbone", hub: new TorchHub(Options)));
        Assert.Contains($"{Path.Combine(Options.MmcvHome, "weights", "backbone.pth")} does not exist", e.Message);
        _dir.Write("mmcv/weights/backbone.pth", "x");
        Assert.Equal(Path.Combine(Options.MmcvHome, "weights", "backbone.pth"), ModelZoo.Resolve("open-mmlab://my/backbone", hub: new TorchHub(Options)));
    }

    [Fact]
    public void An_unknown_name_is_one_message_with_similar_names()
    {
        var e = Assert.Throws<DetSharpException>(() => ModelZoo.Target("torchvision://resnet5", Options));
        Assert.StartsWith("checkpoint 'torchvision://resnet5': 'resnet5' is not in mmcv's torchvision_0.12.json (similar names: resnet50, ", e.Message);
    }

    [Fact]
    public void A_cached_alias_is_used_without_the_network()
    {
        Directory.CreateDirectory(Options.CheckpointsDir);
        string cached = Path.Combine(Options.CheckpointsDir, "resnet50_msra-5891d200.pth");
        File.WriteAllText(cached, "weights");
        Assert.Equal(cached, ModelZoo.Resolve("open-mmlab://detectron2/resnet50_caffe", hub: new TorchHub(Options)));
        Assert.Equal("relative/x.pth", ModelZoo.Resolve("relative/x.pth", hub: new TorchHub(Options)));
    }

    [Theory]
    [InlineData("https://x/y.pth", "http path: https://x/y.pth")]
    [InlineData("torchvision://resnet50", "torchvision path: torchvision://resnet50")]
    [InlineData("open-mmlab://vgg16_caffe", "openmmlab path: open-mmlab://vgg16_caffe")]
    [InlineData("mmcls://resnet50", "mmcls path: mmcls://resnet50")]
    [InlineData("work_dirs/latest.pth", "local path: work_dirs/latest.pth")]
    public void Describe_uses_mmcvs_wording(string name, string expected) => Assert.Equal(expected, ModelZoo.Describe(name));

    [Fact]
    public void Mmcls_keeps_backbone_keys_without_the_prefix()
    {
        Assert.Equal("layer1.0.conv1.weight", ModelZoo.MmclsKey("backbone.layer1.0.conv1.weight"));
        Assert.Null(ModelZoo.MmclsKey("head.fc.weight"));
    }
}
