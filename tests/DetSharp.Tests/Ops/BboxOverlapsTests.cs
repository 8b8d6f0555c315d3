using DetSharp.Ops;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

public class BboxOverlapsTests
{
    private static void AssertClose(float[] expected, Tensor actual, string what)
    {
        var a = actual.contiguous().data<float>().ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - a[i]) <= 1e-6, $"{what}[{i}]: expected {expected[i]}, got {a[i]}");
        }
    }

    [SharedFixtureFact(MmcvOpsFixture.Path)]
    public void AllModesEqualMmdet()
    {
        using var scope = NewDisposeScope();
        var j = MmcvOpsFixture.Json.GetProperty("bbox_overlaps");
        var b1 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes1"))).reshape(-1, 4);
        var b2 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes2"))).reshape(-1, 4);
        foreach (var mode in new[] { "iou", "iof", "giou" })
        {
            var expected = MmcvOpsFixture.Flatten(j.GetProperty(mode));
            // C# path (no grad), tensor path (grad), and the chunked tensor path must all agree with MMDetection.
            AssertClose(expected, BboxOverlaps.Compute(b1, b2, mode), mode + " (C#)");
            var g1 = b1.clone().requires_grad_(true);
            var viaTensors = BboxOverlaps.Compute(g1, b2, mode);
            Assert.True(viaTensors.requires_grad);
            AssertClose(expected, viaTensors.detach(), mode + " (tensors)");
            AssertClose(expected, BboxOverlaps.Compute(b1.unsqueeze(0), b2.unsqueeze(0), mode)[0], mode + " (batched)");
        }

        AssertClose(MmcvOpsFixture.Floats(j.GetProperty("iou_aligned")), BboxOverlaps.Compute(b1[..4], b2, "iou", isAligned: true), "iou_aligned");
    }

    [Fact]
    public void ChunkedTensorPathEqualsCSharpPath()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(2);
        Tensor Boxes(long n)
        {
            var xy = rand(new long[] { n, 2 }, generator: gen) * 100;
            return cat(new[] { xy, xy + rand(new long[] { n, 2 }, generator: gen) * 30 }, 1);
        }

        var a = Boxes(BboxOverlaps.ChunkElements / 40 + 17);
        var b = Boxes(50);
        foreach (var mode in new[] { "iou", "iof", "giou" })
        {
            var fast = BboxOverlaps.Compute(a, b, mode);
            var chunked = BboxOverlaps.Compute(a.clone().requires_grad_(true), b, mode).detach();
            Assert.Equal(fast.shape, chunked.shape);
            Assert.True(fast.allclose(chunked, 0, 1e-6), mode);
        }
    }

    [Fact]
    public void EmptyInputsAndBadModes()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(new long[] { 0, 3 }, BboxOverlaps.Compute(zeros(0, 4), zeros(3, 4)).shape);
        Assert.Equal(new long[] { 0 }, BboxOverlaps.Compute(zeros(0, 4), zeros(0, 4), isAligned: true).shape);
        Assert.Throws<ArgumentException>(() => BboxOverlaps.Compute(zeros(2, 4), zeros(2, 4), "diou"));
    }
}
