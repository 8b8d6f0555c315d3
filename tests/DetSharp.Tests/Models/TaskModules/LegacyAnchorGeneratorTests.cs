using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>LegacyAnchorGenerator against MMDetection 2.28.2's (values printed by its <c>grid_priors</c>, see each test).</summary>
public sealed class LegacyAnchorGeneratorTests
{
    private static float[] Flat(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void Docstring_example_puts_a_9_pixel_anchor_on_pixels_0_to_8_of_each_16_pixel_cell()
    {
        // MMDetection's docstring: LegacyAnchorGenerator([16], [1.], [1.], [9], center_offset=0.5): centre 0.5·(9 − 1) = 4,
        // corners 4 ± (9 − 1)/2.
        var g = new LegacyAnchorGenerator([16L], [1.0], [1.0], [9.0], centerOffset: 0.5);
        var a = g.GridPriors([(2, 2)])[0];
        Assert.Equal([0f, 0, 8, 8, 16, 0, 24, 8, 0, 16, 8, 24, 16, 16, 24, 24], Flat(a));
    }

    [Fact]
    public void RetinaNet_v1_octave_anchors_are_rounded_corners_around_the_legacy_centre()
    {
        // legacy_1.x/retinanet_r50_fpn_1x_coco_v1.py's generator on strides 8 and 16, from the config as a model would build it.
        var cfg = Config.Config.FromText("g = dict(type='LegacyAnchorGenerator', octave_base_scale=4, scales_per_octave=3, "
            + "ratios=[0.5, 1.0, 2.0], strides=[8, 16], center_offset=0.5)", "test.py").Get<ConfigDict>("g");
        var g = Builders.TaskModule<AnchorGenerator>(cfg);
        Assert.IsType<LegacyAnchorGenerator>(g);
        float[] level0 =
        [
            -19, -7, 26, 14, -25, -10, 32, 17, -32, -14, 39, 21, -12, -12, 19, 19, -16, -16, 23, 23, -21, -21, 28, 28,
            -7, -19, 14, 26, -10, -25, 17, 32, -14, -32, 21, 39,
        ];
        Assert.Equal(level0, Flat(g.BaseAnchors(0)));
        Assert.Equal([-37f, -15, 52, 30, -49, -21, 64, 36, -64, -28, 79, 43], Flat(g.BaseAnchors(1)[..3]));
        // Grid position 1 of level 0 (x + 8): MMDetection's anchors 9..11.
        Assert.Equal([-11f, -7, 34, 14, -17, -10, 40, 17, -24, -14, 47, 21], Flat(g.GridPriors([(2, 2), (1, 1)])[0][9..12]));
    }
}

/// <summary>LegacyDeltaXYWHBBoxCoder against MMDetection 2.28.2's <c>legacy_delta2bbox</c> docstring example and a round trip.</summary>
public sealed class LegacyDeltaXYWHBBoxCoderTests
{
    [Fact]
    public void Decode_matches_mmdetections_docstring_example()
    {
        var rois = tensor(new float[] { 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 5, 5, 5, 5 }, [4, 4]);
        var deltas = tensor(new float[] { 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 2, -1, 0.7f, -1.9f, -0.5f, 0.3f }, [4, 4]);
        var boxes = new LegacyDeltaXYWHBBoxCoder().Decode(rois, deltas, (32, 32)).data<float>().ToArray();
        float[] expected = [0, 0, 1.5f, 1.5f, 0, 0, 5.2183f, 5.2183f, 0, 0.1321f, 7.8891f, 0.8679f, 5.3967f, 2.4251f, 6.0033f, 3.7749f];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], boxes[i], 3);
    }

    [Fact]
    public void Encode_then_decode_gives_the_gt_back_with_one_pixel_wider_boxes()
    {
        var coder = new LegacyDeltaXYWHBBoxCoder([0, 0, 0, 0], [0.1, 0.1, 0.2, 0.2]);
        var anchors = tensor(new float[] { 0, 0, 15, 15, 10, 20, 40, 30 }, [2, 4]);
        var gts = tensor(new float[] { 2, 3, 19, 11, 12, 18, 36, 35 }, [2, 4]);
        var deltas = coder.Encode(anchors, gts);
        // Anchor 0 is 16 px wide in 1.x (15 − 0 + 1), the GT 18: dw = log(18/16) / 0.2.
        Assert.Equal(Math.Log(18.0 / 16) / 0.2, deltas[0, 2].item<float>(), 4);
        // Decoding spans gw = 18 around the centre 10.5: x1 = 1.5, x2 = 19.5 (1.x's x2 + 0.5 and x1 − 0.5).
        var back = coder.Decode(anchors, deltas).data<float>().ToArray();
        Assert.Equal([1.5f, 2.5f, 19.5f, 11.5f], back[..4].Select(v => MathF.Round(v, 3)).ToArray());
    }
}

/// <summary>LegacySSDAnchorGenerator against MMDetection 2.28.2's (legacy_1.x/ssd300_coco_v1.py's generator, values printed by MMDetection).</summary>
public sealed class LegacySSDAnchorGeneratorTests
{
    private static float[] Flat(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void Ssd300_v1_anchors_are_centred_on_the_middle_pixel_with_rounded_corners()
    {
        var cfg = Config.Config.FromText("g = dict(type='LegacySSDAnchorGenerator', scale_major=False, input_size=300, "
            + "basesize_ratio_range=(0.15, 0.9), strides=[8, 16, 32, 64, 100, 300], ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]])", "test.py")
            .Get<ConfigDict>("g");
        var g = Builders.TaskModule<AnchorGenerator>(cfg);
        Assert.IsType<LegacySSDAnchorGenerator>(g);
        Assert.Equal([-6f, -6, 14, 14, -11, -11, 18, 18, -11, -3, 18, 10, -3, -11, 10, 18], Flat(g.BaseAnchors(0)));
        Assert.Equal([-14f, -14, 30, 30, -25, -25, 40, 40, -24, -8, 39, 23, -8, -24, 23, 39, -31, -5, 46, 20, -5, -31, 20, 46], Flat(g.BaseAnchors(1)));
        Assert.Equal([20f, 20, 280, 280, 7, 7, 292, 292, -35, 58, 334, 241, 58, -35, 241, 334], Flat(g.BaseAnchors(5)));
        var grid = g.GridPriors([(2, 2), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)])[0];
        Assert.Equal([2f, -6, 22, 14, -3, -11, 26, 18, -3, -3, 26, 10, 5, -11, 18, 18], Flat(grid[4..8]));
    }
}
