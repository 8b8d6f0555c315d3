using DetSharp.Utils;
using static TorchSharp.torch;

namespace DetSharp.Tests.Utils;

public sealed class AutocastTests
{
    [Fact]
    public void Conv_and_linear_run_in_bfloat16_inside_the_region_and_float32_after_it()
    {
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(3, 4, 3);
        using var fc = nn.Linear(4, 2);
        var x = randn(1, 3, 8, 8);
        Assert.False(Autocast.IsEnabled(CPU));
        using (Autocast.Enter(CPU, ScalarType.BFloat16))
        {
            Assert.True(Autocast.IsEnabled(CPU));
            Assert.Equal(ScalarType.BFloat16, Autocast.Dtype(CPU));
            var y = conv.forward(x);
            Assert.Equal(ScalarType.BFloat16, y.dtype);
            Assert.Equal(ScalarType.BFloat16, fc.forward(y.mean([2, 3])).dtype);
            // Losses run in float32 (libtorch's fp32 list), whatever their inputs.
            var loss = nn.functional.binary_cross_entropy_with_logits(y, zeros_like(y));
            Assert.Equal(ScalarType.Float32, loss.dtype);
            // The weights stay float32 master copies.
            Assert.Equal(ScalarType.Float32, conv.weight!.dtype);
        }
        Assert.False(Autocast.IsEnabled(CPU));
        Assert.Equal(ScalarType.Float32, conv.forward(x).dtype);
    }

    [Fact]
    public void A_nested_region_restores_the_outer_one()
    {
        using (Autocast.Enter(CPU, ScalarType.BFloat16))
        {
            using (Autocast.Enter(CPU, ScalarType.Float16))
                Assert.Equal(ScalarType.Float16, Autocast.Dtype(CPU));
            Assert.True(Autocast.IsEnabled(CPU));
            Assert.Equal(ScalarType.BFloat16, Autocast.Dtype(CPU));
        }
        Assert.False(Autocast.IsEnabled(CPU));
    }
}
