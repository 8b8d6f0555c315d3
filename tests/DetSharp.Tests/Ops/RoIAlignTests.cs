using DetSharp.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

public class RoIAlignTests
{
    private static void AssertClose(float[] expected, Tensor actual, double tol, string what)
    {
        var a = actual.contiguous().data<float>().ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - a[i]) <= tol, $"{what}[{i}]: expected {expected[i]}, got {a[i]}");
        }
    }

    private static void AssertClose(Tensor expected, Tensor actual, double tol, string what) =>
        AssertClose(expected.contiguous().data<float>().ToArray(), actual, tol, what);

    [SharedTheory(MmcvOpsFixture.Path)]
    [InlineData(0, RoIAlignPoolMode.Avg)]
    [InlineData(1, RoIAlignPoolMode.Avg)]
    [InlineData(2, RoIAlignPoolMode.Avg)]
    [InlineData(0, RoIAlignPoolMode.Max)]
    [InlineData(1, RoIAlignPoolMode.Max)]
    [InlineData(2, RoIAlignPoolMode.Max)]
    public void GridSampleFormulationEqualsKernel(int index, RoIAlignPoolMode mode)
    {
        using var scope = NewDisposeScope();
        var (feature, rois) = MmcvOpsFixture.RoIAlignInputs();
        var o = MmcvOpsFixture.RoIAlignOptionsOf(index) with { Mode = mode };
        var f1 = feature.clone().requires_grad_(true);
        var f2 = feature.clone().requires_grad_(true);
        var weights = randn(rois.shape[0], feature.shape[1], o.OutputHeight, o.OutputWidth, generator: new Generator(3));

        var kernel = RoIAlign.Apply(f1, rois, o);
        var grid = RoIAlignGridSample.Apply(f2, rois, o);
        AssertClose(kernel, grid, 1e-5, "output");
        (kernel * weights).sum().backward();
        (grid * weights).sum().backward();
        AssertClose(f1.grad!, f2.grad!, 1e-5, "grad_input");
    }

    [Fact]
    public void GridSampleFormulationEqualsKernelAcrossImagesAndEdgeCases()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(11);
        var feature = randn(new long[] { 3, 5, 9, 13 }, generator: gen);
        var rois = tensor(new float[,]
        {
            { 2, 0, 0, 12, 8 },       // whole map of image 2
            { 0, -3, -2, 4, 5 },      // partly outside, top-left
            { 1, 10, 6, 20, 15 },     // partly outside, bottom-right
            { 0, 5.5f, 5.5f, 5.5f, 5.5f }, // zero size
            { 1, 1.2f, 3.7f, 2.9f, 4.1f }, // smaller than one cell
            { 2, -30, -30, -20, -20 },     // entirely outside
        });
        foreach (var aligned in new[] { true, false })
        {
            foreach (var sampling in new[] { 0, 1, 3 })
            {
                foreach (var mode in new[] { RoIAlignPoolMode.Avg, RoIAlignPoolMode.Max })
                {
                    var o = new RoIAlignOptions(2, 3, 0.5f, sampling, mode, aligned);
                    var f1 = feature.clone().requires_grad_(true);
                    var f2 = feature.clone().requires_grad_(true);
                    var kernel = RoIAlign.Apply(f1, rois, o);
                    var grid = RoIAlignGridSample.Apply(f2, rois, o);
                    var what = $"aligned={aligned} sampling={sampling} mode={mode}";
                    AssertClose(kernel, grid, 1e-5, what + " output");
                    var weights = randn(kernel.shape, generator: gen);
                    (kernel * weights).sum().backward();
                    (grid * weights).sum().backward();
                    AssertClose(f1.grad!, f2.grad!, 1e-5, what + " grad");
                }
            }
        }
    }

    [Fact]
    public void ChannelsLastKernelEqualsPlanarKernel()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(13);
        foreach (var channels in new[] { 3, 37 })
        {
            var feature = randn(new long[] { 2, channels, 11, 14 }, generator: gen);
            var rois = tensor(new float[,] { { 1, 0, 0, 13, 10 }, { 0, -3, -2, 6, 5 }, { 1, 9, 6, 20, 15 }, { 0, 2.2f, 3.1f, 2.9f, 3.3f } });
            foreach (var (sampling, aligned) in new[] { (0, true), (2, true), (0, false) })
            {
                var o = new RoIAlignOptions(3, 2, 0.75f, sampling, RoIAlignPoolMode.Avg, aligned);
                var f1 = feature.clone().requires_grad_(true);
                var f2 = feature.clone().requires_grad_(true);
                var nhwc = RoIAlignFunction.apply(f1, rois, o, true);
                var planar = RoIAlignFunction.apply(f2, rois, o, false);
                AssertClose(planar, nhwc, 1e-6, "output");
                var weights = randn(nhwc.shape, generator: gen);
                (nhwc * weights).sum().backward();
                (planar * weights).sum().backward();
                AssertClose(f2.grad!, f1.grad!, 1e-6, "grad");
            }
        }
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        // RoIAlign 'avg' is linear in the feature map, so central differences of L = sum(w * out) are exact up to
        // float32 rounding; the reference sums run in float64.
        using var scope = NewDisposeScope();
        var gen = new Generator(5);
        var feature = randn(new long[] { 2, 2, 5, 6 }, generator: gen);
        var rois = tensor(new float[,] { { 0, 0.3f, 0.7f, 4.2f, 3.9f }, { 1, -1.5f, 1, 3, 6.5f }, { 0, 2, 2, 2.6f, 2.2f } });
        foreach (var (sampling, aligned) in new[] { (0, true), (2, true), (0, false) })
        {
            var o = new RoIAlignOptions(2, 2, 1f, sampling, RoIAlignPoolMode.Avg, aligned);
            var weights = randn(new long[] { 3, 2, 2, 2 }, generator: gen);
            var x = feature.clone().requires_grad_(true);
            (RoIAlign.Apply(x, rois, o) * weights).sum().backward();
            var analytic = x.grad!.data<float>().ToArray();

            double Loss(Tensor f)
            {
                using var inner = NewDisposeScope();
                var y = RoIAlign.Apply(f, rois, o).to_type(ScalarType.Float64);
                return (y * weights.to_type(ScalarType.Float64)).sum().item<double>();
            }

            const float eps = 0.5f;
            var flat = feature.flatten();
            for (int i = 0; i < flat.shape[0]; i++)
            {
                var plus = flat.clone();
                plus[i] = plus[i] + eps;
                var minus = flat.clone();
                minus[i] = minus[i] - eps;
                var numeric = (Loss(plus.view(feature.shape)) - Loss(minus.view(feature.shape))) / (2 * eps);
                Assert.True(Math.Abs(numeric - analytic[i]) < 1e-4, $"sampling={sampling} aligned={aligned} grad[{i}]: numeric {numeric}, analytic {analytic[i]}");
            }
        }
    }

    [Fact]
    public void MaxModeBackwardMatchesFiniteDifferences()
    {
        // Away from ties, 'max' is locally linear: a small step keeps the winning sample.
        using var scope = NewDisposeScope();
        var gen = new Generator(9);
        var feature = randn(new long[] { 1, 2, 6, 6 }, generator: gen);
        var rois = tensor(new float[,] { { 0, 0.3f, 0.7f, 5.2f, 4.9f }, { 0, 1, 1, 3.5f, 4 } });
        var o = new RoIAlignOptions(2, 2, 1f, 2, RoIAlignPoolMode.Max, true);
        var x = feature.clone().requires_grad_(true);
        RoIAlign.Apply(x, rois, o).sum().backward();
        var analytic = x.grad!.data<float>().ToArray();
        const float eps = 1e-3f;
        var flat = feature.flatten();
        for (int i = 0; i < flat.shape[0]; i++)
        {
            var plus = flat.clone();
            plus[i] = plus[i] + eps;
            var minus = flat.clone();
            minus[i] = minus[i] - eps;
            var numeric = (RoIAlign.Apply(plus.view(feature.shape), rois, o).to_type(ScalarType.Float64).sum().item<double>()
                - RoIAlign.Apply(minus.view(feature.shape), rois, o).to_type(ScalarType.Float64).sum().item<double>()) / (2 * eps);
            Assert.True(Math.Abs(numeric - analytic[i]) < 2e-2, $"grad[{i}]: numeric {numeric}, analytic {analytic[i]}");
        }
    }

    [Fact]
    public void Float64InputRunsThroughTheKernelAndKeepsItsType()
    {
        using var scope = NewDisposeScope();
        var feature = randn(new long[] { 1, 3, 8, 8 }, ScalarType.Float64, generator: new Generator(1)).requires_grad_(true);
        var rois = tensor(new double[,] { { 0, 1, 1, 6, 7 } });
        var y = RoIAlign.Apply(feature, rois, new RoIAlignOptions(2, 2, 1f));
        Assert.Equal(ScalarType.Float64, y.dtype);
        y.sum().backward();
        Assert.Equal(ScalarType.Float64, feature.grad!.dtype);
        Assert.True(feature.grad!.abs().sum().item<double>() > 0);
    }

    [Fact]
    public void BadInputsGiveClearErrors()
    {
        using var scope = NewDisposeScope();
        var feature = zeros(1, 2, 4, 4);
        var ex = Assert.Throws<ArgumentException>(() => RoIAlign.Apply(feature, zeros(3, 4), new RoIAlignOptions(2, 2, 1f)));
        Assert.Contains("[K, 5]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => RoIAlign.Apply(feature, tensor(new float[,] { { 1, 0, 0, 2, 2 } }), new RoIAlignOptions(2, 2, 1f)));
        Assert.Contains("batch index 1", ex.Message);
        Assert.Throws<ArgumentException>(() => new RoIAlign((2, 2), poolMode: "sum"));
    }
}
