using DetSharp.Models.DenseHeads;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>VFNetHead's star-shaped deformable-conv offsets worked by hand (the oracle comparison is in DenseHeadParityTests).</summary>
public sealed class VFNetHeadTests
{
    [Fact]
    public void Star_offsets_move_the_nine_taps_to_the_box_corners_edges_and_centre()
    {
        // Distances (l, t, r, b) = (8, 16, 24, 32) at stride 8 are (1, 2, 3, 4) feature cells. Tap k = i·3 + j sits at
        // (i − 1, j − 1) on the regular grid; with the offsets it must read (y, x) ∈ {−t, 0, b} × {−l, 0, r}.
        var bbox = tensor(new float[] { 8, 16, 24, 32 }, [1, 4, 1, 1]).requires_grad_();
        var offset = VFNetHead.StarDcnOffset(bbox, 0.1, 8);
        Assert.Equal([1L, 18, 1, 1], offset.shape);
        var o = offset.detach().reshape(-1).data<float>().ToArray();
        float[] ys = [-2, 0, 4], xs = [-1, 0, 3];
        for (int k = 0; k < 9; k++)
        {
            Assert.Equal(ys[k / 3], o[2 * k] + (k / 3 - 1), 5);
            Assert.Equal(xs[k % 3], o[2 * k + 1] + (k % 3 - 1), 5);
        }
        // The gradient reaching the distances is gradient_mul / stride per use: t is read (negated) by the 3 top taps.
        offset.sum().backward();
        var g = bbox.grad!.reshape(-1).data<float>().ToArray();
        Assert.Equal(-3 * 0.1 / 8, g[0], 6);
        Assert.Equal(-3 * 0.1 / 8, g[1], 6);
        Assert.Equal(3 * 0.1 / 8, g[2], 6);
        Assert.Equal(3 * 0.1 / 8, g[3], 6);
    }
}
