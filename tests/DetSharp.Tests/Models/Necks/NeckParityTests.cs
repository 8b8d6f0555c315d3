using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Common;
using DetSharp.Models.Necks;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Necks;

/// <summary>
/// PAFPN, NASFPN and BFP (and ConvAWS inside a PAFPN) against MMDetection 2.28.2: <c>tests/fixtures/mmdet-2.28/necks</c>,
/// made by <c>tools/oracle/necks.py</c> (see its README) — MMDetection's weights and inputs, every output map in full.
/// </summary>
public sealed class NeckParityTests
{
    /// <summary>Each value to 1e-5 of the larger of its own magnitude and its map's mean magnitude.</summary>
    private const double RelativeTolerance = 1e-5;

    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "necks");

    private static ConfigList Channels(params long[] c) => new(c.Select(v => (object?)v));

    /// <summary>The neck dicts of tools/oracle/necks.py's NECKS.</summary>
    private static ConfigDict Cfg(string name) => name switch
    {
        "pafpn" => new() { ["type"] = "PAFPN", ["in_channels"] = Channels(8, 16, 32, 64), ["out_channels"] = 16L, ["num_outs"] = 5L },
        "pafpn_aws" => new()
        {
            ["type"] = "PAFPN",
            ["in_channels"] = Channels(8, 16, 32, 64),
            ["out_channels"] = 16L,
            ["num_outs"] = 5L,
            ["start_level"] = 1L,
            ["add_extra_convs"] = "on_input",
            ["conv_cfg"] = new ConfigDict { ["type"] = "ConvAWS" },
            ["norm_cfg"] = new ConfigDict { ["type"] = "GN", ["num_groups"] = 4L, ["requires_grad"] = true },
            ["act_cfg"] = new ConfigDict { ["type"] = "ReLU" },
        },
        "nasfpn" => new()
        {
            ["type"] = "NASFPN",
            ["in_channels"] = Channels(8, 16, 32),
            ["out_channels"] = 16L,
            ["num_outs"] = 5L,
            ["stack_times"] = 2L,
            ["norm_cfg"] = new ConfigDict { ["type"] = "BN", ["requires_grad"] = true },
        },
        "bfp_conv" => new() { ["type"] = "BFP", ["in_channels"] = 16L, ["num_levels"] = 5L, ["refine_level"] = 2L, ["refine_type"] = "conv" },
        "bfp_none" => new() { ["type"] = "BFP", ["in_channels"] = 16L, ["num_levels"] = 5L, ["refine_level"] = 1L },
        "bfp_non_local" => new() { ["type"] = "BFP", ["in_channels"] = 16L, ["num_levels"] = 5L, ["refine_level"] = 2L, ["refine_type"] = "non_local" },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>The fixture's tensors under <paramref name="prefix"/>, prefix removed (none for a neck without parameters).</summary>
    private static Dictionary<string, Tensor> Weights(string prefix)
    {
        string path = Path.Combine(Folder, "weights.pth");
        var all = PretrainedWeights.Read(path);
        return all.Keys.Any(k => k.StartsWith(prefix + ".", StringComparison.Ordinal)) ? PretrainedWeights.SelectPrefix(all, prefix, path) : [];
    }

    private static Tensor[] Inputs(string prefix)
    {
        var all = Weights(prefix);
        return [.. Enumerable.Range(0, all.Count).Select(i => all[i.ToString(System.Globalization.CultureInfo.InvariantCulture)])];
    }

    private static nn.Module<Tensor[], Tensor[]> Build(string name)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<nn.Module<Tensor[], Tensor[]>>(Cfg(name));
    }

    [Theory]
    [InlineData("pafpn", "input")]
    [InlineData("pafpn_aws", "input")]
    [InlineData("nasfpn", "nas_input")]
    [InlineData("bfp_conv", "bfp_input")]
    [InlineData("bfp_none", "bfp_input")]
    [InlineData("bfp_non_local", "bfp_input")]
    public void Neck_WithMmdetectionsWeights_GivesItsOutputs(string name, string inputs)
    {
        using var scope = NewDisposeScope();
        using var neck = Build(name);
        var weights = Weights(name);
        Assert.Equal(weights.Keys.Order(), neck.state_dict().Keys.Order());
        Assert.True(Checkpoint.LoadStateDict(neck, weights, strict: true).ExactMatch);
        neck.eval();
        using var _ = no_grad();
        var outs = neck.forward(Inputs(inputs));
        using var fixture = new OracleFixture("necks", "outputs.json");
        var expected = fixture.Floats(name);
        Assert.Equal(expected.Length, outs.Length);
        for (int i = 0; i < outs.Length; i++) AssertClose($"{name}[{i}]", expected[i], outs[i]);
    }

    [Fact]
    public void ConvAWS_LoadedWithoutGammaAndBeta_RecoversThemFromTheWeightAsMmcv()
    {
        using var scope = NewDisposeScope();
        using var neck = Build("pafpn_aws");
        var plain = Weights("pafpn_aws").Where(kv => !kv.Key.EndsWith("weight_gamma", StringComparison.Ordinal) && !kv.Key.EndsWith("weight_beta", StringComparison.Ordinal))
            .ToDictionary();
        var report = Checkpoint.LoadStateDict(neck, plain);
        Assert.Empty(report.MissingKeys);
        var buffers = neck.state_dict();
        using var fixture = new OracleFixture("necks", "outputs.json");
        AssertClose("weight_gamma", fixture.Float("aws_recovered_gamma"), buffers["lateral_convs.0.conv.weight_gamma"]);
        AssertClose("weight_beta", fixture.Float("aws_recovered_beta"), buffers["lateral_convs.0.conv.weight_beta"]);
    }

    [Fact]
    public void ConvAWS_LoadedWithItsBuffers_KeepsThem()
    {
        using var scope = NewDisposeScope();
        using var neck = Build("pafpn_aws");
        var weights = Weights("pafpn_aws");
        Assert.True(Checkpoint.LoadStateDict(neck, weights).ExactMatch);
        Assert.True(neck.state_dict()["lateral_convs.0.conv.weight_gamma"].allclose(weights["lateral_convs.0.conv.weight_gamma"], rtol: 0, atol: 0));
    }

    [Fact]
    public void NeckList_BuildsMmdetectionsSequential_AndChainsTheNecks()
    {
        using var scope = NewDisposeScope();
        ComponentRegistration.EnsureRegistered();
        var pafpn = Cfg("pafpn");
        var bfp = Cfg("bfp_conv");
        using var sequence = NeckSequence.Build(new List<object?> { pafpn, bfp });
        var keys = sequence.state_dict().Keys.ToList();
        Assert.Equal(Build("pafpn").state_dict().Keys.Select(k => "0." + k).Concat(Build("bfp_conv").state_dict().Keys.Select(k => "1." + k)), keys);
        var seq = (NeckSequence)sequence;
        using var _ = no_grad();
        var x = Inputs("input");
        var chained = seq.Necks[1].forward(seq.Necks[0].forward(x));
        var outs = sequence.forward(x);
        for (int i = 0; i < outs.Length; i++) Assert.True(outs[i].allclose(chained[i], rtol: 0, atol: 0));
    }

    [Fact]
    public void BFP_RefineModules_KeepTheirOwnInit_AsMMDetection()
    {
        // MMDetection's BFP applies its Xavier init_cfg, then each child's init_weights: the refine ConvModule ends
        // Kaiming-initialised (std sqrt(2 / fan_out)), NonLocal2d's conv_out zero (the refinement starts as the identity).
        ComponentRegistration.EnsureRegistered();
        var conv = Cfg("bfp_conv");
        conv["in_channels"] = 64L;
        using var bfpConv = Registries.Models.Build<BFP>(conv);
        double std = bfpConv.state_dict()["refine.conv.weight"].std().item<float>();
        Assert.InRange(std, 0.9 * Math.Sqrt(2.0 / (64 * 9)), 1.1 * Math.Sqrt(2.0 / (64 * 9)));
        using var bfpNonLocal = Registries.Models.Build<BFP>(Cfg("bfp_non_local"));
        Assert.Equal(0.0, bfpNonLocal.state_dict()["refine.conv_out.conv.weight"].abs().max().item<float>());
    }

    /// <summary>A neck's output map against MMDetection's, to <see cref="RelativeTolerance"/> (also FPG's tests).</summary>
    internal static void AssertClose(string what, Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        var a = actual.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        double meanAbs = e.Average(Math.Abs);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= RelativeTolerance * Math.Max(Math.Abs(e[i]), meanAbs),
                $"{what} value {i}: {a[i]:R}, MMDetection {e[i]:R}");
    }
}
