using System.Diagnostics;
using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Models.Necks;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models;

/// <summary>The seed's Cascade Mask R-CNN + AugFPN config: builds, trains one step, learns, does not leak.</summary>
public sealed class TrainingTests(ITestOutputHelper output)
{
    private const string SeedConfig = "cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py";

    /// <summary>The seed model with a slim backbone/neck/heads (ResNet-18, base 16, AugFPN 32 channels).</summary>
    internal static ConfigDict SlimSeedModel(bool consistentSupervision = false)
    {
        var cfg = Config.Config.FromFile(ModelFixtures.RepoConfig(SeedConfig));
        cfg.MergeFromOptions([
            "model.backbone.depth=18", "model.backbone.base_channels=16",
            "model.neck.in_channels=[16,32,64,128]", "model.neck.out_channels=32",
            "model.rpn_head.in_channels=32", "model.rpn_head.feat_channels=32",
            "model.roi_head.bbox_roi_extractor.out_channels=32", "model.roi_head.mask_roi_extractor.out_channels=32",
            "model.roi_head.bbox_head.0.in_channels=32", "model.roi_head.bbox_head.0.fc_out_channels=64",
            "model.roi_head.bbox_head.1.in_channels=32", "model.roi_head.bbox_head.1.fc_out_channels=64",
            "model.roi_head.bbox_head.2.in_channels=32", "model.roi_head.bbox_head.2.fc_out_channels=64",
            "model.roi_head.mask_head.in_channels=32", "model.roi_head.mask_head.conv_out_channels=32",
            "model.train_cfg.rcnn.0.sampler.num=64", "model.train_cfg.rcnn.1.sampler.num=64", "model.train_cfg.rcnn.2.sampler.num=64",
        ]);
        var model = cfg.Get<ConfigDict>("model");
        if (consistentSupervision) model.Get<ConfigDict>("neck")["consistent_supervision"] = true;
        return model;
    }

    internal static double Step(BaseDetector model, optim.Optimizer opt, (Tensor Img, DetSharp.Models.ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, DetSharp.Structures.IInstanceMasks[] Masks) b,
        out Dictionary<string, double> log)
    {
        using var scope = NewDisposeScope();
        opt.zero_grad();
        var losses = model.ForwardTrain(b.Img, b.Metas, b.Boxes, b.Labels, b.Masks);
        var (total, l) = losses.Parse();
        total.backward();
        opt.step();
        log = l;
        return l["loss"];
    }

    [Fact]
    public void SeedConfig_FullSize_BuildsAndTrainsOneStep()
    {
        manual_seed(0);
        using var model = ModelFixtures.Build(Config.Config.FromFile(ModelFixtures.RepoConfig(SeedConfig)).Get<ConfigDict>("model"));
        Assert.IsType<CascadeRCNN>(model);
        var neck = Assert.IsType<AugFPN>(((TwoStageDetector)model).Neck);
        Assert.Equal(8, model.NumClasses);
        // AugFPN adds exactly the RFA + ASF parameters to the FPN layout (77,047,694 in MMDetection with FPN).
        Assert.Equal(77_047_694L + 1_777_411L, DetSharp.Models.Common.ModuleTools.CountParameters(model).Total);
        _ = neck;
        model.train();
        var batch = SyntheticData.Batch();
        using var opt = optim.SGD(model.parameters().Where(p => p.requires_grad), 0.001, momentum: 0.9, weight_decay: 1e-4);
        double loss = Step(model, opt, batch, out var log);
        Assert.True(double.IsFinite(loss));
        Assert.Equal(
            ["loss_rpn_cls", "loss_rpn_bbox", "s0.loss_cls", "s0.acc", "s0.loss_bbox", "s0.loss_mask", "s1.loss_cls", "s1.acc", "s1.loss_bbox",
             "s1.loss_mask", "s2.loss_cls", "s2.acc", "s2.loss_bbox", "s2.loss_mask", "loss"], log.Keys);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SlimSeedModel_LossDecreasesOver30Steps(bool consistentSupervision)
    {
        manual_seed(0);
        using var model = ModelFixtures.Build(SlimSeedModel(consistentSupervision));
        model.train();
        var batch = SyntheticData.Batch();
        using var opt = optim.SGD(model.parameters().Where(p => p.requires_grad), 0.01, momentum: 0.9, weight_decay: 1e-4);
        var history = new List<double>();
        Dictionary<string, double> log = [];
        for (int i = 0; i < 30; i++) history.Add(Step(model, opt, batch, out log));
        output.WriteLine(string.Join(" ", history.Select(v => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.All(history, v => Assert.True(double.IsFinite(v)));
        double first = history.Take(3).Average(), last = history.Skip(27).Average();
        Assert.True(last < 0.8 * first, $"loss did not decrease: first {first:F4}, last {last:F4}");
        if (consistentSupervision)
        {
            Assert.Contains("s0.loss_cls_aux", log.Keys);
            Assert.Contains("s0.loss_bbox_aux", log.Keys);
        }
        else Assert.DoesNotContain("s0.loss_cls_aux", log.Keys);

        model.eval();
        var results = model.SimpleTest(batch.Img, batch.Metas);
        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Equal(r.Count, r.Masks!.Length));
    }
}

/// <summary>Resident memory is process-wide: measured alone, so other tests' models do not count.</summary>
[Collection(ProcessWideCollection.Name)]
public sealed class TrainingMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void SlimSeedModel_NoMemoryGrowthOver50Steps()
    {
        manual_seed(0);
        using var model = ModelFixtures.Build(TrainingTests.SlimSeedModel(consistentSupervision: true));
        model.train();
        var batch = SyntheticData.Batch();
        using var opt = optim.SGD(model.parameters().Where(p => p.requires_grad), 0.005, momentum: 0.9, weight_decay: 1e-4);
        var proc = Process.GetCurrentProcess();
        long rssAfterWarmup = 0;
        var rss = new List<long>();
        for (int i = 0; i < 50; i++)
        {
            TrainingTests.Step(model, opt, batch, out _);
            if (i % 10 == 9)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                // Free heap pages go back first, so that the C heap's fragmentation left by the tests before this one
                // (the process had 1.9 GB resident in the full suite) does not read as growth; leaked tensors stay.
                NativeHeap.ReleaseFreeMemory();
                proc.Refresh();
                rss.Add(proc.WorkingSet64);
                if (i == 9) rssAfterWarmup = proc.WorkingSet64;
            }
        }
        output.WriteLine("RSS after steps 10..50 (MB): " + string.Join(", ", rss.Select(r => (r / (1024.0 * 1024)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture))));
        double growthMb = (rss[^1] - rssAfterWarmup) / (1024.0 * 1024);
        Assert.True(growthMb < 40, $"RSS grew by {growthMb:F1} MB between steps 10 and 50");
    }
}
