using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

public sealed class PseudoSamplerTests
{
    [Fact]
    public void TakesEveryAssignedCandidate_PositivesAndNegativesSorted()
    {
        // gt_inds: 0 = background, -1 = ignored, k > 0 = matched to GT k (1-based), as MaxIoUAssigner writes them.
        var assign = new AssignResult(2, tensor(new long[] { 0, 2, -1, 1, 0, 2 }), zeros(6), tensor(new long[] { -1, 4, -1, 3, -1, 4 }));
        var boxes = arange(24, ScalarType.Float32).reshape(6, 4);
        var gt = tensor(new float[] { 10, 10, 20, 20, 30, 30, 40, 40 }).reshape(2, 4);

        var result = new PseudoSampler().Sample(assign, boxes, gt);

        Assert.Equal([1L, 3L, 5L], result.PosInds.data<long>().ToArray());
        Assert.Equal([0L, 4L], result.NegInds.data<long>().ToArray());
        Assert.Equal([1L, 0L, 1L], result.PosAssignedGtInds.data<long>().ToArray());
        Assert.Equal([30f, 30, 40, 40, 10, 10, 20, 20, 30, 30, 40, 40], result.PosGtBboxes.reshape(-1).data<float>().ToArray());
        Assert.Equal([4L, 3L, 4L], result.PosGtLabels!.data<long>().ToArray());
        Assert.Equal([0, 0, 0], result.PosIsGt.data<byte>().ToArray()); // no GT boxes are added as proposals
    }
}
