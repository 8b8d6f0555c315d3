using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Torch;

/// <summary>libtorch loads through TorchSharp on this machine and autograd gives hand-computed gradients.</summary>
public class LibTorchTests
{
    [Fact]
    public void Conv2d_forward_and_backward_match_a_hand_calculation()
    {
        using var scope = NewDisposeScope();
        // x: 1x1x3x3 = [[1,2,3],[4,5,6],[7,8,9]]; w: 1x1x2x2 = [[1,0],[0,-1]] + bias 0.5, stride 1, no padding.
        var x = arange(1, 10, dtype: float32).reshape(1, 1, 3, 3).requires_grad_(true);
        var w = tensor(new float[] { 1, 0, 0, -1 }).reshape(1, 1, 2, 2).requires_grad_(true);
        var b = tensor(new float[] { 0.5f }).requires_grad_(true);

        var y = nn.functional.conv2d(x, w, b);
        // Each output is x[i,j] - x[i+1,j+1] + 0.5 = -4 + 0.5 for every position of this ramp.
        Assert.Equal(new long[] { 1, 1, 2, 2 }, y.shape);
        Assert.All(y.data<float>().ToArray(), v => Assert.Equal(-3.5f, v));

        // loss = sum(y^2) => dL/dy = 2y = -7 everywhere.
        var loss = y.pow(2).sum();
        loss.backward();

        // dL/db = sum(dL/dy) = 4 * -7 = -28.
        Assert.Equal(-28f, b.grad!.item<float>());
        // dL/dw[p,q] = sum_{i,j} dL/dy[i,j] * x[i+p, j+q] = -7 * (sum of the 2x2 window of x at offset (p,q)).
        // Windows: (0,0): 1+2+4+5=12, (0,1): 2+3+5+6=16, (1,0): 4+5+7+8=24, (1,1): 5+6+8+9=28.
        Assert.Equal(new[] { -84f, -112f, -168f, -196f }, w.grad!.data<float>().ToArray());
        // dL/dx[m,n] = sum over outputs touching it of dL/dy * w: +(-7) where it is a top-left tap, -(-7)=+7 where bottom-right.
        Assert.Equal(new[] { -7f, -7f, 0f, -7f, 0f, 7f, 0f, 7f, 7f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Version_is_the_libtorch_the_build_references()
    {
        Assert.StartsWith("2.10.0", torch.__version__);
    }
}
