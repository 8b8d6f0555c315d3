using System.Text.Json;
using DetSharp.Ops;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>
/// Deformable convolution (DCN, DCNv2) against mmcv 1.7.1's own CPU kernels (<c>tests/fixtures/mmcv-1.7/deform_conv.json</c>,
/// made by <c>tools/oracle/mmcv_deform_conv.py</c>, which compiles them from the local reference) and torchvision's
/// <c>deform_conv2d</c>, whose sampling rule and offset/mask layout are mmcv's (<c>tests/fixtures/torchvision-0.14/</c>,
/// <c>tools/oracle/deform_conv.py</c>): outputs and all gradients in float64; plus what a deformable convolution must
/// reduce to by hand.
/// </summary>
public sealed class DeformConvTests
{
    private static string Fixture(string source) => Path.Combine(RepoPaths.Root, "tests", "fixtures", source, "deform_conv.json");

    /// <summary>Every case of both fixtures through each path: the CPU kernel in float64 and float32, and grid_sample
    /// (the path of other devices) in float64.</summary>
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var source in new[] { "mmcv-1.7", "torchvision-0.14" })
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture(source)));
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                foreach (var path in new[] { "kernel float64", "kernel float32", "grid_sample float64" }) data.Add(source, c.GetProperty("name").GetString()!, path);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_and_gradients_equal_mmcvs_and_torchvisions(string source, string name, string path)
    {
        bool float32 = path.EndsWith("float32", StringComparison.Ordinal);
        Tensor Leaf(JsonElement e) => float32 ? Values(e).to_type(ScalarType.Float32).requires_grad_() : Values(e).requires_grad_();
        Func<Tensor, Tensor, Tensor?, Tensor, Tensor?, DeformConvGeometry, Tensor> op =
            path.StartsWith("grid_sample", StringComparison.Ordinal) ? DeformConv.ApplyGridSample : DeformConv.Apply;
        // float32 keeps about 7 digits through the bilinear sums and the matmul.
        double tolerance = float32 ? 1e-4 : 1e-9;
        void AssertClose(string what, double[] expected, Tensor actual) => DeformConvTests.AssertClose(what, expected, actual.to_type(ScalarType.Float64), tolerance);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture(source)));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        using var scope = NewDisposeScope();
        var x = Leaf(c.GetProperty("input"));
        var offset = Leaf(c.GetProperty("offset"));
        var weight = Leaf(c.GetProperty("weight"));
        var bias = float32 ? tensor(Doubles(c.GetProperty("bias"))).to_type(ScalarType.Float32).requires_grad_() : tensor(Doubles(c.GetProperty("bias"))).requires_grad_();
        var mask = c.TryGetProperty("mask", out var m) ? Leaf(m) : null;
        var geometry = new DeformConvGeometry(Pair(c, "stride"), Pair(c, "padding"), Pair(c, "dilation"),
            c.GetProperty("groups").GetInt64(), c.GetProperty("deform_groups").GetInt64());

        var y = op(x, offset, mask, weight, bias, geometry);
        var expected = c.GetProperty("output");
        Assert.Equal(expected.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), y.shape);
        AssertClose("output", Doubles(expected.GetProperty("values")), y);
        using (no_grad())
        {
            // Nothing to differentiate: the kernel's inference path (patch image and libtorch's strided convolution).
            AssertClose("output without gradients", Doubles(expected.GetProperty("values")), op(x, offset, mask, weight, bias, geometry));
        }

        (y * tensor(Doubles(c.GetProperty("r"))).to_type(y.dtype).view(y.shape)).sum().backward();
        AssertClose("grad input", Doubles(c.GetProperty("grad_input")), x.grad!);
        AssertClose("grad offset", Doubles(c.GetProperty("grad_offset")), offset.grad!);
        AssertClose("grad weight", Doubles(c.GetProperty("grad_weight")), weight.grad!);
        AssertClose("grad bias", Doubles(c.GetProperty("grad_bias")), bias.grad!);
        if (mask is not null) AssertClose("grad mask", Doubles(c.GetProperty("grad_mask")), mask.grad!);
    }

    [Fact]
    public void With_zero_offsets_it_is_the_plain_convolution()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 6, 7, ScalarType.Float64);
        var w = randn(6, 2, 3, 3, ScalarType.Float64);
        var b = randn(6, ScalarType.Float64);
        var g = new DeformConvGeometry((2, 1), (1, 2), (1, 2), Groups: 2, DeformGroups: 2);
        var (ho, wo) = DeformConv.OutputSize(6, 7, 3, 3, g);
        var y = DeformConv.Apply(x, zeros(2, 2 * 2 * 9, ho, wo, ScalarType.Float64), null, w, b, g);
        var expected = nn.functional.conv2d(x, w, b, strides: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2);
        Assert.True(y.allclose(expected, 1e-12, 1e-12));
    }

    [Fact]
    public void Samples_interpolate_and_what_lies_outside_the_map_reads_zero()
    {
        // A 1×1 kernel on the row [1, 2, 4], Δx per output position: x=0 − 0.5 reads half of pixel 0 (its left
        // neighbour is outside), x=1 − 2 lands on −1 exactly, which mmcv reads as 0, x=2 + 0.75 reads a quarter of
        // pixel 2 (its right neighbour is outside); x=0 + 0.5 would read (1 + 2) / 2. The mask scales each sample.
        using var scope = NewDisposeScope();
        var x = tensor(new double[] { 1, 2, 4 }).view(1, 1, 1, 3);
        var w = ones(1, 1, 1, 1, ScalarType.Float64);
        var g = new DeformConvGeometry((1, 1), (0, 0), (1, 1));
        var offset = tensor(new double[] { 0, 0, 0, -0.5, -2, 0.75 }).view(1, 2, 1, 3);
        // (Within 1e-12: the coordinate passes through grid_sample's normalisation and back.)
        AssertClose("plain", [0.5, 0.0, 1.0], DeformConv.Apply(x, offset, null, w, null, g), 1e-12);
        var mask = tensor(new double[] { 0.5, 1, 1 }).view(1, 1, 1, 3);
        AssertClose("masked", [0.25, 0.0, 1.0], DeformConv.Apply(x, offset, mask, w, null, g), 1e-12);
        var inside = tensor(new double[] { 0, 0, 0, 0.5, 0, 0 }).view(1, 2, 1, 3);
        AssertClose("inside", [1.5, 2.0, 4.0], DeformConv.Apply(x, inside, null, w, null, g), 1e-12);
    }

    /// <summary>
    /// The channels-last kernel against the grid_sample formulation (an independent path, itself checked against the
    /// fixtures) where conv groups and deformable groups cut the channels differently, with channel runs longer than a
    /// SIMD vector and with a scalar tail: outputs and every gradient in float64, and the output of the inference path.
    /// </summary>
    [Theory]
    [InlineData(1, 2, 26)]
    [InlineData(2, 1, 26)]
    [InlineData(2, 4, 24)]
    [InlineData(3, 1, 21)]
    public void The_kernel_equals_grid_sample_for_any_grouping(long groups, long deformGroups, long channels)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        var g = new DeformConvGeometry((1, 2), (1, 1), (2, 1), groups, deformGroups);
        var (ho, wo) = DeformConv.OutputSize(7, 9, 3, 3, g);
        Tensor Leaf(params long[] shape) => randn(shape, ScalarType.Float64, generator: gen).requires_grad_();
        var inputs = new[]
        {
            Leaf(2, channels, 7, 9), (randn([2, 2 * deformGroups * 9, ho, wo], ScalarType.Float64, generator: gen) * 2).requires_grad_(),
            rand([2, deformGroups * 9, ho, wo], ScalarType.Float64, generator: gen).requires_grad_(), Leaf(6 * groups, channels / groups, 3, 3),
        };
        var r = randn([2, 6 * groups, ho, wo], ScalarType.Float64, generator: gen);
        Tensor[] Run(Func<Tensor, Tensor, Tensor?, Tensor, Tensor?, DeformConvGeometry, Tensor> op)
        {
            var leaves = inputs.Select(t => t.detach().requires_grad_()).ToArray();
            var y = op(leaves[0], leaves[1], leaves[2], leaves[3], null, g);
            (y * r).sum().backward();
            return [y.detach(), .. leaves.Select(t => t.grad!)];
        }

        var kernel = Run(DeformConv.Apply);
        var reference = Run(DeformConv.ApplyGridSample);
        string[] names = ["output", "grad input", "grad offset", "grad mask", "grad weight"];
        for (int i = 0; i < names.Length; i++)
            AssertClose(names[i], reference[i].contiguous().data<double>().ToArray(), kernel[i], 1e-10);
        // Inference (no operand requires a gradient) lays the samples out as a patch image for libtorch's convolution.
        var inference = DeformConv.Apply(inputs[0].detach(), inputs[1].detach(), inputs[2].detach(), inputs[3].detach(), null, g);
        AssertClose("output without gradients", reference[0].contiguous().data<double>().ToArray(), inference, 1e-10);
    }

    [Fact]
    public void An_offset_of_the_wrong_shape_is_refused_before_libtorch_sees_it()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => DeformConv.Apply(zeros(1, 2, 5, 5), zeros(1, 9, 5, 5), null, zeros(3, 2, 3, 3), null,
            new DeformConvGeometry((1, 1), (1, 1), (1, 1))));
        Assert.Contains("offset must be [1, 18, 5, 5]", e.Message);
    }

    private static Tensor Values(JsonElement t) =>
        tensor(Doubles(t.GetProperty("values"))).view(t.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray());

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static (long, long) Pair(JsonElement c, string key)
    {
        var v = c.GetProperty(key).EnumerateArray().Select(x => x.GetInt64()).ToArray();
        return (v[0], v[1]);
    }

    private static void AssertClose(string what, double[] expected, Tensor actual, double tolerance = 1e-9)
    {
        var a = actual.contiguous().data<double>().ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - expected[i]) <= tolerance + tolerance * Math.Abs(expected[i]), $"{what}[{i}]: {a[i]} vs {expected[i]}");
    }
}
