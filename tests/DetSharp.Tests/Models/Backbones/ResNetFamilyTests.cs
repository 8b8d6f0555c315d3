using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.IO;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Backbones;

/// <summary>The ResNet family's arguments as MMDetection takes them: what each fixes, refuses or shares with ResNet.</summary>
public sealed class ResNetFamilyTests
{
    private static nn.Module<Tensor, Tensor[]> Build(string python) =>
        Builders.Model<nn.Module<Tensor, Tensor[]>>(Config.Config.FromText("backbone = " + python, "test.py").Get<ConfigDict>("backbone"));

    [Fact]
    public void ResNeXt_x101_64x4d_HasMmdetectionsGroupedWidths()
    {
        using var m = Build("dict(type='ResNeXt', depth=101, groups=64, base_width=4, num_stages=2, out_indices=(0, 1))");
        var shapes = ModuleTools.StateDict(m).ToDictionary(e => e.Key, e => e.Value.shape);
        // width = floor(planes * 4 / 64) * 64: 256 channels at planes 64, 512 at 128; 3×3 conv weight [w, w / groups, 3, 3].
        Assert.Equal([256L, 4, 3, 3], shapes["layer1.0.conv2.weight"]);
        Assert.Equal([512L, 8, 3, 3], shapes["layer2.0.conv2.weight"]);
        Assert.Equal([512L, 512, 1, 1], shapes["layer2.0.conv3.weight"]);
    }

    [Fact]
    public void Dcn_MakesConv2Deformable_OnTheStagesOfStageWithDcn_WithOffsetsStartingAtZero()
    {
        using var m = Build("dict(type='ResNeXt', depth=50, groups=4, base_width=4, base_channels=16, "
            + "dcn=dict(type='DCN', deform_groups=2, fallback_on_stride=False), stage_with_dcn=(False, True, True, True))");
        var sd = ModuleTools.StateDict(m).ToDictionary(e => e.Key, e => e.Value);
        Assert.False(sd.ContainsKey("layer1.0.conv2.conv_offset.weight"));
        // deform_groups 2 × 2 coordinates × 9 taps = 36 offset channels; the grouped 3×3 weight keeps ResNeXt's shape.
        Assert.Equal([36L, 32, 3, 3], sd["layer2.0.conv2.conv_offset.weight"].shape);
        Assert.Equal([32L, 8, 3, 3], sd["layer2.0.conv2.weight"].shape);
        Assert.Equal(0, sd["layer2.0.conv2.conv_offset.weight"].abs().sum().item<float>());
        Assert.NotEqual(0, sd["layer2.0.conv2.weight"].abs().sum().item<float>());
        using var x = randn(1, 3, 64, 64);
        Assert.Equal(4, m.forward(x).Length);
    }

    [Fact]
    public void Res2Net_Dcn_MakesEverySplitConvDeformable_OnTheStagesOfStageWithDcn()
    {
        using var m = Build("dict(type='Res2Net', depth=50, scales=4, base_width=26, base_channels=16, "
            + "dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False), stage_with_dcn=(False, True, True, True))");
        var sd = ModuleTools.StateDict(m).ToDictionary(e => e.Key, e => e.Value);
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("layer1.", StringComparison.Ordinal) && k.Contains("conv_offset", StringComparison.Ordinal));
        // width = floor(32 · 26 / 16) = 52 per split at layer2; DCNv2: 3 · 9 offset/mask channels and a bias-free weight.
        foreach (int i in new[] { 0, 1, 2 })
        {
            Assert.Equal([27L, 52, 3, 3], sd[$"layer2.0.convs.{i}.conv_offset.weight"].shape);
            Assert.Equal([52L, 52, 3, 3], sd[$"layer2.0.convs.{i}.weight"].shape);
        }
        Assert.False(sd.ContainsKey("layer2.0.convs.3.weight"));
        using var x = randn(1, 3, 64, 64);
        Assert.Equal(4, m.forward(x).Length);
    }

    [Fact]
    public void Dcn_FallbackOnStride_KeepsPlainConvolutions_AndBasicBlocksRefuseDcn()
    {
        using var m = Build("dict(type='ResNet', depth=50, base_channels=8, dcn=dict(type='DCNv2', fallback_on_stride=True), "
            + "stage_with_dcn=(True, True, True, True))");
        Assert.DoesNotContain(ModuleTools.StateDict(m).Select(e => e.Key), k => k.Contains("conv_offset", StringComparison.Ordinal));
        var e = Assert.Throws<DetSharpException>(() => Build("dict(type='ResNet', depth=18, dcn=dict(type='DCN'), stage_with_dcn=(False, True, True, True))"));
        Assert.Contains("dcn (deformable convolution) is supported in the Bottleneck blocks", e.Message);
    }

    [Fact]
    public void ConvCfg_ConvWS_StandardisesEveryConvolution_StemBlocksAndShortcuts_AndKeepsTheKeys()
    {
        using var ws = Build("dict(type='ResNet', depth=50, base_channels=8, conv_cfg=dict(type='ConvWS'), norm_cfg=dict(type='GN', num_groups=4))");
        using var plain = Build("dict(type='ResNet', depth=50, base_channels=8, norm_cfg=dict(type='GN', num_groups=4))");
        Assert.Equal(ModuleTools.StateDictTsv(plain), ModuleTools.StateDictTsv(ws));
        var convs = ws.named_modules().Where(m => m.name.EndsWith("conv1", StringComparison.Ordinal) || m.name.EndsWith("downsample.0", StringComparison.Ordinal)).ToList();
        Assert.Contains(convs, m => m.name == "conv1");
        Assert.Contains(convs, m => m.name == "layer1.0.downsample.0");
        Assert.All(convs, m => Assert.IsType<ConvWS2d>(m.module));
        Assert.Contains("conv_cfg is supported in ResNet, ResNeXt and RegNet",
            Assert.Throws<DetSharpException>(() => Build("dict(type='Res2Net', depth=50, conv_cfg=dict(type='ConvWS'))")).Message);
    }

    [Fact]
    public void ResNeXt_WithOneGroup_IsResNet()
    {
        using var x = Build("dict(type='ResNeXt', depth=50, groups=1, base_channels=8)");
        using var r = Build("dict(type='ResNet', depth=50, base_channels=8)");
        Assert.Equal(ModuleTools.StateDictTsv(r), ModuleTools.StateDictTsv(x));
    }

    [Fact]
    public void RegNet_RefusesNumStagesAndDeepStem_ResNeStAndRes2Net_RefuseDroppingTheDeepStem()
    {
        Assert.Contains("num_stages is set by arch", Assert.Throws<DetSharpException>(() => Build("dict(type='RegNet', arch='regnetx_400mf', num_stages=4)")).Message);
        Assert.Contains("deep_stem", Assert.Throws<DetSharpException>(() => Build("dict(type='RegNet', arch='regnetx_400mf', deep_stem=True)")).Message);
        Assert.Contains("deep_stem is always True", Assert.Throws<DetSharpException>(() => Build("dict(type='ResNeSt', depth=50, deep_stem=False)")).Message);
        Assert.Contains("avg_down is always True", Assert.Throws<DetSharpException>(() => Build("dict(type='Res2Net', depth=50, avg_down=False)")).Message);
        Assert.Contains("'regnetx_1gf' is not one of", Assert.Throws<DetSharpException>(() => Build("dict(type='RegNet', arch='regnetx_1gf')")).Message);
        Assert.Contains("lacks 'bot_mul'", Assert.Throws<DetSharpException>(() => Build("dict(type='RegNet', arch=dict(w0=8, wa=8.0, wm=2.0, group_w=8, depth=6))")).Message);
    }

    [Fact]
    public void FrozenStagesAndNormEval_AreResNets()
    {
        using var m = Build("dict(type='RegNet', arch='regnetx_400mf', frozen_stages=1, norm_eval=True)");
        m.train();
        var sd = ModuleTools.StateDict(m).Where(e => e.IsParameter).ToList();
        Assert.All(sd.Where(e => e.Key.StartsWith("conv1.", StringComparison.Ordinal) || e.Key.StartsWith("layer1.", StringComparison.Ordinal)),
            e => Assert.False(e.Value.requires_grad, e.Key));
        Assert.All(sd.Where(e => e.Key.StartsWith("layer2.", StringComparison.Ordinal)), e => Assert.True(e.Value.requires_grad, e.Key));
        Assert.All(m.named_modules().Where(n => NormLayers.IsBatchNorm(n.module)), n => Assert.False(n.module.training, n.name));
    }

    [Fact]
    public void MMSyncBN_IsBatchNormInOneProcess()
    {
        var (name, layer) = NormLayers.Build(new ConfigDict { ["type"] = "MMSyncBN", ["requires_grad"] = true }, 8, "1");
        Assert.Equal("bn1", name);
        // SyncBatchNorm, plain BatchNorm in one process (SyncBatchNormTests compares the two).
        Assert.Equal(SyncBatchNormStats.Default, Assert.IsType<SyncBatchNorm>(layer).Stats);
        Assert.True(NormLayers.IsBatchNorm(layer));
        layer.Dispose();
    }

    [Fact]
    public void PretrainedOpenMmlabCheckpoint_BuildsAndLoadsFromTorchsCache()
    {
        const string Layout = "dict(type='ResNeXt', depth=50, groups=4, base_width=2, base_channels=8";
        using var m = Build(Layout + ", init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d'))");
        using var source = Build(Layout + ")");
        var cache = Directory.CreateTempSubdirectory("detsharp-hub-");
        try
        {
            var hub = new TorchHub(new TorchHubOptions { CheckpointsDir = cache.FullName, MmcvHome = cache.FullName });
            // Where open-mmlab://resnext101_64x4d's URL (resnext101_64x4d-ee2c6f71.pth) is kept: no download.
            Checkpoint.Save(hub.CachedPath(ModelZoo.Target("open-mmlab://resnext101_64x4d")), source, null, []);
            using (TorchHub.Use(hub)) PretrainedInit.InitWeights(m);
            Assert.True(m.state_dict()["layer1.0.conv2.weight"].equal(source.state_dict()["layer1.0.conv2.weight"]).all().item<bool>());
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }
}
