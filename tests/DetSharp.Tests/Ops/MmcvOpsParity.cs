using DetSharp.Core.Tests.Parity;
using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>
/// DetSharp's RoIAlign, NMS and bbox_overlaps on the inputs of <c>fixtures/mmdet/ops/mmcv_ops.json</c>, against
/// mmcv 1.7.1's and MMDetection 2.25's outputs: float32 values to 1e-5 (RoIAlign) and 1e-6 (overlaps), NMS indices exactly.
/// </summary>
internal static class MmcvOpsParity
{
    public const string Family = "ops";

    public static IReadOnlyList<string> BboxOverlapModes { get; } = ["iou", "iof", "giou", "iou_aligned"];

    /// <summary>A fixture is one RoIAlign case (named by its arguments), <c>nms</c>, or one bbox_overlaps mode.</summary>
    public static IReadOnlyList<string> Fixtures() =>
        [.. Enumerable.Range(0, MmcvOpsFixture.Json.GetProperty("roi_align").GetArrayLength()).Select(RoIAlignName), "nms",
         .. BboxOverlapModes.Select(m => "bbox_overlaps " + m)];

    public static IReadOnlyList<ParityRow> Measure(string fixture)
    {
        if (fixture == "nms") return Nms();
        if (fixture.StartsWith("bbox_overlaps ", StringComparison.Ordinal)) return BboxOverlapsMode(fixture["bbox_overlaps ".Length..]);
        int index = Enumerable.Range(0, MmcvOpsFixture.Json.GetProperty("roi_align").GetArrayLength()).First(i => RoIAlignName(i) == fixture);
        return RoIAlign(index);
    }

    private static string RoIAlignName(int index)
    {
        var o = MmcvOpsFixture.RoIAlignOptionsOf(index);
        return $"roi_align[{index}] sampling_ratio={o.SamplingRatio} aligned={o.Aligned}";
    }

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    /// <summary>Forward on the fixture's feature map and RoIs, then the input gradient for an all-ones output gradient.</summary>
    public static IReadOnlyList<ParityRow> RoIAlign(int index)
    {
        using var scope = NewDisposeScope();
        var c = MmcvOpsFixture.Json.GetProperty("roi_align")[index];
        var (feature, rois) = MmcvOpsFixture.RoIAlignInputs();
        feature.requires_grad_(true);
        var checks = new ParityChecks(Family, RoIAlignName(index));

        var output = new RoIAlign(MmcvOpsFixture.RoIAlignOptionsOf(index)).call(feature, rois);
        checks.Same("output shape", MmcvOpsFixture.Longs(c.GetProperty("output_shape")), output.shape);
        checks.Values("output", MmcvOpsFixture.Floats(c.GetProperty("output")), Values(output), Tolerance.Absolute(1e-5));
        output.backward(new[] { ones_like(output) });
        checks.Values("grad_input", MmcvOpsFixture.Floats(c.GetProperty("grad_input")), Values(feature.grad!), Tolerance.Absolute(1e-5));
        return checks.Rows;
    }

    /// <summary>The kept indices in order, including mmcv's order among exactly tied scores.</summary>
    public static IReadOnlyList<ParityRow> Nms()
    {
        using var scope = NewDisposeScope();
        var (boxes, scores, thr, expected) = MmcvOpsFixture.NmsInputs();
        var (_, keep) = DetSharp.Ops.Nms.nms(boxes, scores, thr);
        var checks = new ParityChecks(Family, "nms");
        checks.Same("kept indices, in order", expected, keep.data<long>().ToArray());
        return checks.Rows;
    }

    /// <summary>
    /// One mode through each path of <see cref="BboxOverlaps.Compute"/>: the C# loop (no grad), the tensor formulation
    /// (taken when an input requires grad) and a batched [1, n, 4] call; <c>iou_aligned</c> is the aligned iou.
    /// </summary>
    public static IReadOnlyList<ParityRow> BboxOverlapsMode(string mode)
    {
        using var scope = NewDisposeScope();
        var j = MmcvOpsFixture.Json.GetProperty("bbox_overlaps");
        var b1 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes1"))).reshape(-1, 4);
        var b2 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes2"))).reshape(-1, 4);
        var expected = MmcvOpsFixture.Flatten(j.GetProperty(mode));
        var checks = new ParityChecks(Family, "bbox_overlaps " + mode);
        var tolerance = Tolerance.Absolute(1e-6);
        if (mode == "iou_aligned")
        {
            checks.Values("aligned", expected, Values(BboxOverlaps.Compute(b1[..4], b2, "iou", isAligned: true)), tolerance);
            return checks.Rows;
        }

        checks.Values("C# path", expected, Values(BboxOverlaps.Compute(b1, b2, mode)), tolerance);
        checks.Values("tensor path (requires grad)", expected, Values(BboxOverlaps.Compute(b1.clone().requires_grad_(true), b2, mode).detach()), tolerance);
        checks.Values("batched [1, n, 4]", expected, Values(BboxOverlaps.Compute(b1.unsqueeze(0), b2.unsqueeze(0), mode)[0]), tolerance);
        return checks.Rows;
    }
}
