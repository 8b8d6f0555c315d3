using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Common;

public sealed class FuseConvBnTests(ITestOutputHelper output)
{
    private static ConvModule ConvBnRelu()
    {
        var m = new ConvModule(3, 8, 3, padding: 1, normCfg: new ConfigDict { ["type"] = "BN" });
        using var noGrad = no_grad();
        var bn = (BatchNorm2d)m.Norm!;
        // Statistics and affine parameters far from the identity, so that a wrong fold shows.
        bn.running_mean!.copy_(randn(8));
        bn.running_var!.copy_(rand(8) + 0.5);
        bn.weight!.copy_(randn(8));
        bn.bias!.copy_(randn(8));
        return m;
    }

    [Fact]
    public void An_eval_mode_BatchNorm_is_folded_into_its_conv_with_equal_outputs()
    {
        manual_seed(0);
        using var m = ConvBnRelu();
        m.eval();
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 16, 16);
        var before = m.forward(x);
        Assert.Equal(1, FuseConvBn.Fuse(m));
        Assert.DoesNotContain(m.modules(), NormLayers.IsBatchNorm);
        Assert.Contains("conv.bias", m.state_dict().Keys);
        var after = m.forward(x);
        double maxDiff = (after - before).abs().max().item<float>();
        Assert.True(maxDiff < 1e-5, $"fused output differs by {maxDiff}");
    }

    [Fact]
    public void A_training_BatchNorm_is_left_alone()
    {
        using var m = ConvBnRelu();
        m.train();
        Assert.Equal(0, FuseConvBn.Fuse(m));
        Assert.Contains(m.modules(), NormLayers.IsBatchNorm);
    }

    /// <summary>
    /// The slim Mask R-CNN of the parity fixtures (ResNet-18: stem, blocks and strided downsample shortcuts): every
    /// BatchNorm folds, and the detections on a balloon val image stay within 1e-4 (relative for coordinates).
    /// </summary>
    [SharedFact(SlimModelParity.Dir + "mask_rcnn_slim.pth")]
    public void Slim_Mask_RCNN_detections_are_unchanged_by_fusion()
    {
        using var model = SlimModelParity.LoadSlim("mask_rcnn");
        model.eval();
        int batchNorms = model.modules().Count(NormLayers.IsBatchNorm);
        using var scope = NewDisposeScope();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + SlimModelParity.TestImages("mask_rcnn")[0]));
        var img = MmdetInput.Batch([(chw, meta)]);
        var before = model.SimpleTest(img, [meta])[0];
        int folded = FuseConvBn.Fuse(model);
        var after = model.SimpleTest(img, [meta])[0];

        Assert.Equal(20, batchNorms);
        Assert.Equal(batchNorms, folded);
        Assert.DoesNotContain(model.modules(), NormLayers.IsBatchNorm);
        Assert.Equal(before.Count, after.Count);
        Assert.Equal(before.Labels, after.Labels);
        double boxDiff = before.Bboxes.Zip(after.Bboxes, (a, b) => Math.Abs(a - b) / Math.Max(1, Math.Abs(a))).Max();
        double scoreDiff = before.Scores.Zip(after.Scores, (a, b) => (double)Math.Abs(a - b)).Max();
        output.WriteLine($"{folded} BatchNorms folded; {after.Count} detections; max box deviation {boxDiff:E2} (relative), max score deviation {scoreDiff:E2}");
        Assert.True(boxDiff < 1e-4, $"boxes moved by {boxDiff:E2} (relative)");
        Assert.True(scoreDiff < 1e-4, $"scores moved by {scoreDiff:E2}");
    }
}
