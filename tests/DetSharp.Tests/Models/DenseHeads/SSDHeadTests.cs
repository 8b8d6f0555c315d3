using DetSharp.Config;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>SSD's hard negative mining and anchor sizes, worked by hand.</summary>
public sealed class SSDHeadTests
{
    [Fact]
    public void HardNegativeMining_KeepsAllPositivesAndThreeTimesAsManyOfTheHardestNegatives()
    {
        // 3 classes, background = 3. Positives: anchors 1 (0.5) and 6 (0.25). Negatives: 0.9, 0.1, 2.0, 0.3, 1.5, 0.7, 0.05;
        // 3 × 2 = 6 of the 7 are kept, the easiest (0.05) dropped. Anchor 4 has label 5, neither positive nor negative.
        var loss = tensor(new float[] { 0.9f, 0.5f, 0.1f, 2.0f, 9.0f, 0.3f, 0.25f, 1.5f, 0.7f, 0.05f });
        var labels = tensor(new long[] { 3, 0, 3, 3, 5, 3, 2, 3, 3, 3 });
        var sum = SSDHead.HardNegativeMiningSum(loss, labels, numClasses: 3, negPosRatio: 3).item<float>();
        Assert.Equal(0.5f + 0.25f + 0.9f + 0.1f + 2.0f + 0.3f + 1.5f + 0.7f, sum, 5);
    }

    [Fact]
    public void HardNegativeMining_TakesEveryNegativeWhenThereAreFewerThanTheRatioAsks()
    {
        // 1 positive (1.0), ratio 3 asks for 3 negatives but only 2 exist (0.4, 0.2).
        var sum = SSDHead.HardNegativeMiningSum(tensor(new float[] { 1.0f, 0.4f, 0.2f }), tensor(new long[] { 1, 2, 2 }), 2, 3).item<float>();
        Assert.Equal(1.6f, sum, 5);
        // No positive: no negative either.
        Assert.Equal(0f, SSDHead.HardNegativeMiningSum(tensor(new float[] { 0.4f, 0.2f }), tensor(new long[] { 2, 2 }), 2, 3).item<float>());
    }

    [Fact]
    public void Ssd300CocoAnchorSizes_FollowBasesizeRatioRange()
    {
        ComponentRegistration.EnsureRegistered();
        var gen = Registries.TaskModules.Build<AnchorGenerator>(new ConfigDict
        {
            ["type"] = "SSDAnchorGenerator", ["scale_major"] = false, ["input_size"] = 300L,
            ["basesize_ratio_range"] = new ConfigList([0.15, 0.9]), ["strides"] = new ConfigList([8L, 16L, 32L, 64L, 100L, 300L]),
            ["ratios"] = new ConfigList([new ConfigList([2L]), new ConfigList([2L, 3L]), new ConfigList([2L, 3L]), new ConfigList([2L, 3L]), new ConfigList([2L]), new ConfigList([2L])]),
        });
        var ssd = Assert.IsType<SSDAnchorGenerator>(gen);
        // int(0.15·100) = 15, int(0.9·100) = 90, step int(75 / 4) = 18: ratios 15, 33, 51, 69, 87 % of 300,
        // and SSD300 COCO's fixed first level 7 % – 15 %.
        Assert.Equal([21.0, 45, 99, 153, 207, 261], ssd.MinSizes);
        Assert.Equal([45.0, 99, 153, 207, 261, 315], ssd.MaxSizes);
        Assert.Equal([4, 6, 6, 6, 4, 4], gen.NumBaseAnchors);
        // Level 0: centre (4, 4); size 21 (ratio 1), √(21·45) ≈ 30.74 (ratio 1), then 21·√2 × 21/√2 and its transpose.
        var a = gen.BaseAnchors(0).data<float>().ToArray();
        float big = (float)Math.Sqrt(45.0 / 21) * 21;
        float w2 = 21 / MathF.Sqrt(0.5f), h2 = 21 * MathF.Sqrt(0.5f);
        float[] expected = [-6.5f, -6.5f, 14.5f, 14.5f, 4 - big / 2, 4 - big / 2, 4 + big / 2, 4 + big / 2,
            4 - w2 / 2, 4 - h2 / 2, 4 + w2 / 2, 4 + h2 / 2, 4 - h2 / 2, 4 - w2 / 2, 4 + h2 / 2, 4 + w2 / 2];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], a[i], 3);
    }
}
