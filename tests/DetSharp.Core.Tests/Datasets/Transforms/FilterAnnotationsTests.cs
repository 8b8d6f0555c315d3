using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Structures;

namespace DetSharp.Core.Tests.Datasets.Transforms;

/// <summary>
/// FilterAnnotations' mask rule and Pad's pad_val checks, which the MMDetection fixtures (boxes only) do not reach; the
/// expected values are worked out by hand from MMDetection's code.
/// </summary>
public sealed class FilterAnnotationsTests
{
    /// <summary>Three 4×4 instances: boxes 3×3, 0.5×5 and 2×2 px; masks of 5, 0 and 2 pixels.</summary>
    private static DetSample Sample()
    {
        static byte[] Mask(int pixels) => Enumerable.Range(0, 16).Select(i => (byte)(i < pixels ? 1 : 0)).ToArray();
        return new DetSample
        {
            GtBboxes = [0, 0, 3, 3, 1, 0, 1.5f, 5, 0, 0, 2, 2],
            GtLabels = [4, 5, 6],
            GtMasks = new BitmapMasks([Mask(5), Mask(0), Mask(2)], 4, 4),
            MaskFields = ["gt_masks"],
        };
    }

    [Fact]
    public void By_box_keeps_boxes_wider_and_taller_than_the_minimum_with_their_labels_and_masks()
    {
        using var s = new FilterAnnotations(minGtBboxWh: [1.0, 1.0]).Apply(Sample(), new Random(0))!;
        Assert.Equal([0f, 0, 3, 3, 0, 0, 2, 2], s.GtBboxes!);
        Assert.Equal([4L, 6], s.GtLabels!);
        Assert.Equal([5.0, 2.0], s.GtMasks!.Areas());
    }

    [Fact]
    public void By_mask_with_by_box_keeps_only_instances_passing_both()
    {
        using var s = new FilterAnnotations(minGtBboxWh: [1.0, 1.0], minGtMaskArea: 3, byMask: true).Apply(Sample(), new Random(0))!;
        Assert.Equal([0f, 0, 3, 3], s.GtBboxes!);
        Assert.Equal([4L], s.GtLabels!);
        Assert.Equal([5.0], s.GtMasks!.Areas());
    }

    [Fact]
    public void An_emptied_sample_is_dropped_only_when_keep_empty_is_true()
    {
        Assert.Null(new FilterAnnotations(minGtBboxWh: [10.0, 10.0]).Apply(Sample(), new Random(0)));
        using var kept = new FilterAnnotations(minGtBboxWh: [10.0, 10.0], keepEmpty: false).Apply(Sample(), new Random(0))!;
        Assert.Empty(kept.GtBboxes!);
        Assert.Equal(0, kept.GtMasks!.Count);
    }

    [Fact]
    public void Settings_MMDetection_refuses_are_refused()
    {
        Assert.Contains("by_box and by_mask are both False", Assert.Throws<DetSharpException>(() => new FilterAnnotations(byBox: false)).Message);
        Assert.Contains("unknown key 'image'", Assert.Throws<DetSharpException>(() => new Pad(padToSquare: true, padVal: new ConfigDict { ["image"] = 0L })).Message);
        Assert.Contains("one value per channel", Assert.Throws<DetSharpException>(() =>
            new Pad(padToSquare: true, padVal: new ConfigDict { ["img"] = new ConfigTuple([1L, 2L, 3L, 4L, 5L]) })).Message);
    }
}
