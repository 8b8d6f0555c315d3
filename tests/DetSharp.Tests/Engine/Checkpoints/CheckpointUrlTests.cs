using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.IO;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Checkpoints;

/// <summary>
/// Issue 23: checkpoints named by URL or model-zoo alias load from torch's cache (a temporary one here, filled by the
/// test with small checkpoints DetSharp writes), as mmcv's CheckpointLoader; the downloads are TorchHubTests' part.
/// </summary>
public sealed class CheckpointUrlTests : IDisposable
{
    private const string SeedConfig = "cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py";

    private readonly TempDir _dir = new();
    private readonly TorchHub _hub;
    private readonly IDisposable _use;

    public CheckpointUrlTests()
    {
        _hub = new TorchHub(new TorchHubOptions
        {
            CheckpointsDir = Path.Combine(_dir.Path, "torch", "hub", "checkpoints"),
            MmcvHome = Path.Combine(_dir.Path, "mmcv"),
        });
        _use = TorchHub.Use(_hub);
    }

    public void Dispose()
    {
        _use.Dispose();
        _dir.Dispose();
    }

    /// <summary>Writes an mmcv checkpoint holding <paramref name="tensors"/> where the hub keeps <paramref name="url"/>'s file.</summary>
    private string Cache(string url, params (string Key, Tensor Value)[] tensors)
    {
        string path = _hub.CachedPath(url);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stateDict = new PyDict(isOrderedDict: true);
        foreach (var (key, value) in tensors) stateDict[key] = value;
        var checkpoint = new PyDict { ["meta"] = new PyDict(), ["state_dict"] = stateDict };
        Checkpoint.WriteAtomically(path, stream => TorchSerialization.Save(checkpoint, stream));
        return path;
    }

    [Fact]
    public void The_seed_config_trains_from_its_own_load_from_url_when_the_file_is_in_the_cache()
    {
        var cfg = Config.Config.FromFile(Path.Combine(RepoPaths.Configs, SeedConfig));
        string url = cfg.Get<string>("load_from");
        Assert.Equal("http://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco/cascade_mask_rcnn_r50_fpn_1x_coco_20200203-9d4dcb24.pth", url);
        using var conv1 = randn(64, 3, 7, 7);
        using var cocoClassifier = randn(81, 1024); // MMDetection's 80 classes + background; the seed has 8 + 1
        Cache(url, ("backbone.conv1.weight", conv1), ("roi_head.bbox_head.0.fc_cls.weight", cocoClassifier));
        var components = new TrainComponents
        {
            BuildLoader = (_, _, _, _) => new TinyBatchSource(count: 2, classes: ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]),
        };

        var (runner, _, _) = TrainDetector.Prepare(cfg, new TrainOptions { WorkDir = Path.Combine(_dir.Path, "work"), NoValidate = true }, components);

        runner.Logger.Dispose();
        using (runner.Module)
        {
            Assert.True(runner.Module.state_dict()["backbone.conv1.weight"].equal(conv1).all().item<bool>());
            Assert.Contains($"load checkpoint from http path: {url}", runner.Logger.Messages);
            Assert.Contains(runner.Logger.Messages, m => m.Contains("size mismatch for roi_head.bbox_head.0.fc_cls.weight: copying a param with shape torch.Size([81, 1024])", StringComparison.Ordinal));
            Assert.DoesNotContain(runner.Logger.Messages, m => m.StartsWith("Downloading", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Mmcls_names_keep_the_backbone_weights_without_their_prefix()
    {
        using var conv1 = randn(64, 3, 7, 7);
        using var fc = randn(1000, 2048);
        Cache(ModelZoo.Target("mmcls://resnet50"), ("backbone.conv1.weight", conv1), ("head.fc.weight", fc));

        using var ckpt = Checkpoint.Load("mmcls://resnet50");

        Assert.Equal(["conv1.weight"], ckpt.StateDict.Keys);
        Assert.True(ckpt.StateDict["conv1.weight"].equal(conv1).all().item<bool>());
    }

    [Fact]
    public void Init_cfg_pretrained_loads_a_torchvision_name_and_logs_it_as_mmcv()
    {
        using var conv1 = randn(64, 3, 7, 7);
        Cache(ModelZoo.Target("torchvision://resnet50"), ("conv1.weight", conv1));
        using var resnet = Builders.Model<nn.Module<Tensor, Tensor[]>>(Config.Config.FromText(
            "backbone = dict(type='ResNet', depth=50, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'))", "test.py").Get<ConfigDict>("backbone"));
        var log = new List<string>();

        var loads = PretrainedInit.InitWeights(resnet, log.Add);

        Assert.Equal("torchvision://resnet50", Assert.Single(loads).Checkpoint);
        Assert.Contains("load checkpoint from torchvision path: torchvision://resnet50 into the model", log);
        Assert.True(resnet.state_dict()["conv1.weight"].equal(conv1).all().item<bool>());
    }
}
