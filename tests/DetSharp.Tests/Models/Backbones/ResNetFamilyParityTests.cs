using System.Text.Json.Nodes;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Backbones;

/// <summary>
/// ResNeXt, RegNet, Res2Net and ResNeSt against MMDetection 2.28: slim variants built from the config MMDetection built,
/// with its weights (<c>tests/fixtures/mmdet-2.28/backbones/*.pth</c>, loaded strictly), give its feature maps on its
/// input (shapes exact; sums, absolute sums and sampled values to 1e-4 relative); RegNet's widths for every named arch
/// are MMDetection's. How the fixtures were made: that folder's README.md and <c>tools/oracle/backbones.py</c>.
/// </summary>
public sealed class ResNetFamilyParityTests(ITestOutputHelper output)
{
    private const double Rel = 1e-4;
    private static string Fixtures => Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "backbones");

    [Theory]
    [InlineData("resnext50_g4w2_b8", typeof(ResNeXt))]
    [InlineData("regnet_custom", typeof(RegNet))]
    [InlineData("res2net50_s4w3_b8", typeof(Res2Net))]
    [InlineData("resnest50_r2g2_b8", typeof(ResNeSt))]
    public void SlimBackbone_GivesMmdetectionsFeatureMaps(string name, Type expectedType)
    {
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, name + ".json")))!;
        var cfg = Config.Config.FromText(record["config_py"]!.GetValue<string>(), name + ".py").Get<ConfigDict>("backbone");
        using var model = Builders.Model<nn.Module<Tensor, Tensor[]>>(cfg);
        Assert.IsType(expectedType, model);
        var weights = Checkpoint.Load(Path.Combine(Fixtures, name + ".pth")).StateDict;
        Checkpoint.LoadStateDict(model, weights, strict: true);
        Assert.Equal(weights.Keys, ModuleTools.StateDict(model).Select(e => e.Key));
        model.eval();
        using var input = Checkpoint.Load(Path.Combine(Fixtures, "input.pth")).StateDict["input"];
        using var _ = no_grad();
        var outs = model.forward(input);
        var expected = record["outputs"]!.AsArray();
        Assert.Equal(expected.Count, outs.Length);
        for (int i = 0; i < outs.Length; i++)
        {
            var e = expected[i]!;
            using var flat = outs[i].flatten().to(float64);
            Assert.Equal(e["shape"]!.AsArray().Select(d => d!.GetValue<long>()), outs[i].shape);
            double absSum = flat.abs().sum().item<double>(), sum = flat.sum().item<double>();
            double eAbsSum = e["abs_sum"]!.GetValue<double>(), eSum = e["sum"]!.GetValue<double>();
            double scale = eAbsSum / flat.numel(); // the mean magnitude: what "relative" means for values near 0
            output.WriteLine($"{name} out {i}: sum {sum:G9} (mmdet {eSum:G9}), abs_sum {absSum:G9} (mmdet {eAbsSum:G9})");
            Assert.True(Math.Abs(absSum - eAbsSum) <= Rel * eAbsSum, $"{name} output {i}: abs_sum {absSum} vs MMDetection's {eAbsSum}");
            Assert.True(Math.Abs(sum - eSum) <= Rel * eAbsSum, $"{name} output {i}: sum {sum} vs MMDetection's {eSum}");
            var indices = e["indices"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
            var values = e["values"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
            for (int k = 0; k < indices.Length; k++)
            {
                double v = flat[indices[k]].item<double>();
                Assert.True(Math.Abs(v - values[k]) <= Rel * Math.Max(Math.Abs(values[k]), scale),
                    $"{name} output {i}[{indices[k]}]: {v} vs MMDetection's {values[k]}");
            }
        }
        foreach (var o in outs) o.Dispose();
    }

    [Fact]
    public void RegNetWidths_OfEveryNamedArch_AreMmdetections()
    {
        var archs = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "regnet_archs.json")))!.AsObject();
        Assert.Equal(archs.Select(a => a.Key).Order(StringComparer.Ordinal), RegNetWidths.Settings.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, node) in archs)
        {
            var w = RegNetWidths.From(name);
            int[] Ints(string key) => node![key]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
            Assert.Equal(Ints("stage_widths"), w.StageWidths);
            Assert.Equal(Ints("stage_blocks"), w.StageBlocks);
            Assert.Equal(Ints("group_widths"), w.GroupWidths);
        }
    }
}
