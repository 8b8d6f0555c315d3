using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Ops;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>
/// <see cref="DeformRoIPool"/> and mmcv's DeformRoIPoolPack / ModulatedDeformRoIPoolPack against
/// <c>tests/fixtures/mmdet-2.28/deform_roi_pool</c> (made by <c>tools/oracle/deform_roi_pool.py</c>: mmcv's CUDA kernel
/// re-stated as a Python loop, mmcv's own Pack modules on top of it; see its README); gradients by finite differences.
/// </summary>
public sealed class DeformRoIPoolTests
{
    private const int PooledHeight = 3, PooledWidth = 4;
    private const double SpatialScale = 0.5, Gamma = 0.1;

    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "deform_roi_pool");

    private static Dictionary<string, Tensor> Weights()
    {
        string path = Path.Combine(Folder, "weights.pth");
        return PretrainedWeights.Read(path);
    }

    [Theory]
    [InlineData("pool_no_offset", false, 0)]
    [InlineData("pool_offset_adaptive", true, 0)]
    [InlineData("pool_offset_sr2", true, 2)]
    public void Op_GivesMmcvsKernelOutput(string name, bool withOffset, int samplingRatio)
    {
        using var scope = NewDisposeScope();
        var w = Weights();
        var y = DeformRoIPool.Apply(w["input"], w["rois"], withOffset ? w["offset"] : null, PooledHeight, PooledWidth, SpatialScale,
            samplingRatio, Gamma);
        using var fixture = new OracleFixture("deform_roi_pool", "outputs.json");
        AssertClose(name, fixture.Float(name), y, 1e-5);
    }

    [Theory]
    [InlineData("dpool", false)]
    [InlineData("mdpool", true)]
    public void Pack_WithMmcvsWeights_GivesItsOutput(string name, bool modulated)
    {
        using var scope = NewDisposeScope();
        var w = Weights();
        using var layer = new DeformRoIPoolPack(modulated, (PooledHeight, PooledWidth), 8, deformFcChannels: 16, spatialScale: SpatialScale,
            samplingRatio: 2);
        var own = PretrainedWeights.SelectPrefix(w, name, "weights.pth");
        Assert.Equal(own.Keys.Order(), layer.state_dict().Keys.Order());
        Assert.True(Checkpoint.LoadStateDict(layer, own, strict: true).ExactMatch);
        using var _ = no_grad();
        var y = layer.forward(w["input"], w["rois"]);
        using var fixture = new OracleFixture("deform_roi_pool", "outputs.json");
        AssertClose(name, fixture.Float(name), y, 1e-5);
    }

    [Fact]
    public void Pack_AsBuilt_StartsAsRoIAlign()
    {
        using var scope = NewDisposeScope();
        var w = Weights();
        using var layer = new DeformRoIPoolPack(false, (PooledHeight, PooledWidth), 8, deformFcChannels: 16, spatialScale: SpatialScale);
        using var _ = no_grad();
        var expected = RoIAlign.Apply(w["input"], w["rois"], new RoIAlignOptions(PooledHeight, PooledWidth, (float)SpatialScale));
        Assert.True(layer.forward(w["input"], w["rois"]).allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Gradients_OfInputAndOffset_MatchFiniteDifferences(int samplingRatio)
    {
        using var scope = NewDisposeScope();
        var w = Weights();
        var input = w["input"].to_type(ScalarType.Float64).requires_grad_();
        var offset = (w["offset"].to_type(ScalarType.Float64) * 0.3).requires_grad_();
        var rois = w["rois"].to_type(ScalarType.Float64);
        var r = randn([rois.shape[0], 8, PooledHeight, PooledWidth], ScalarType.Float64, generator: new TorchSharp.torch.Generator(5));
        Tensor Loss(Tensor x, Tensor o) => (DeformRoIPool.Apply(x, rois, o, PooledHeight, PooledWidth, SpatialScale, samplingRatio, Gamma) * r).sum();
        Loss(input, offset).backward();
        using var _ = no_grad();
        const double h = 1e-6;
        // Probe the offset entries of every bin of two RoIs and a spread of input pixels.
        foreach (long i in new long[] { 0, 5, 11, 13, 24, 30, 47, 50, 71, 95, 100, 119 })
            CheckEntry("offset", offset, offset.grad!, i, h, () => Loss(input, offset));
        foreach (long i in new long[] { 0, 37, 200, 411, 777, 1500, 2222, 3071 })
            CheckEntry("input", input, input.grad!, i, h, () => Loss(input, offset));
    }

    private static void CheckEntry(string what, Tensor leaf, Tensor grad, long index, double h, Func<Tensor> loss)
    {
        var flat = leaf.view(-1);
        double saved = flat[index].item<double>();
        flat[index] = saved + h;
        double plus = loss().item<double>();
        flat[index] = saved - h;
        double minus = loss().item<double>();
        flat[index] = saved;
        double numeric = (plus - minus) / (2 * h);
        double analytic = grad.view(-1)[index].item<double>();
        Assert.True(Math.Abs(numeric - analytic) <= 1e-6 * Math.Max(1, Math.Abs(numeric)), $"d loss / d {what}[{index}]: autograd {analytic:R}, finite difference {numeric:R}");
    }

    private static void AssertClose(string what, Tensor expected, Tensor actual, double rtol)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        var a = actual.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        double meanAbs = e.Average(Math.Abs);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= rtol * Math.Max(Math.Abs(e[i]), meanAbs), $"{what} value {i}: {a[i]:R}, mmcv {e[i]:R}");
    }
}
