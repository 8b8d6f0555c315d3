using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

public class BboxOverlapsTests
{
    /// <summary>
    /// An input that requires grad takes the tensor path, which keeps the graph. (The values of the C#, tensor and
    /// batched paths are compared with MMDetection's once, in the parity suite: family "ops", bbox_overlaps.)
    /// </summary>
    [SharedFact(MmcvOpsFixture.Path)]
    public void TensorPathKeepsTheGraphForEveryMode()
    {
        using var scope = NewDisposeScope();
        var j = MmcvOpsFixture.Json.GetProperty("bbox_overlaps");
        var b1 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes1"))).reshape(-1, 4).requires_grad_(true);
        var b2 = tensor(MmcvOpsFixture.Flatten(j.GetProperty("bboxes2"))).reshape(-1, 4);
        foreach (var mode in new[] { "iou", "iof", "giou" })
        {
            Assert.True(BboxOverlaps.Compute(b1, b2, mode).requires_grad, mode);
        }
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
