using System.Text.Json;
using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Backbones;

/// <summary>
/// The slim HRNet / HRFPN fixture of <c>tests/fixtures/mmdet-2.28/hrnet</c> (made by <c>tools/oracle/hrnet.py</c> with
/// MMDetection 2.28.2, see its README): MMDetection's weights and input, and per output map its shape, sum, sum of |x|
/// and values at fixed flat indices.
/// </summary>
internal static class HRNetFixture
{
    public static string Folder => Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "hrnet");

    /// <summary>Relative tolerance of every compared number (float32 through ~30 layers, summed over ≤ 1,536 values).</summary>
    public const double RelativeTolerance = 1e-4;

    private static readonly Lazy<JsonDocument> Outputs = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "outputs.json"))));

    /// <summary>The tools/oracle/hrnet.py SLIM_EXTRA: 1 module and 1 block per stage, branches of 4/8/16/32 channels.</summary>
    public static ConfigDict SlimExtra()
    {
        static ConfigDict Stage(long branches, string block, long[] channels) => new()
        {
            ["num_modules"] = 1L,
            ["num_branches"] = branches,
            ["block"] = block,
            ["num_blocks"] = new ConfigTuple(channels.Select(_ => (object?)1L)),
            ["num_channels"] = new ConfigTuple(channels.Select(c => (object?)c)),
        };
        return new ConfigDict
        {
            ["stage1"] = Stage(1, "BOTTLENECK", [8]),
            ["stage2"] = Stage(2, "BASIC", [4, 8]),
            ["stage3"] = Stage(3, "BASIC", [4, 8, 16]),
            ["stage4"] = Stage(4, "BASIC", [4, 8, 16, 32]),
        };
    }

    public static T Build<T>(ConfigDict cfg)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<T>(cfg);
    }

    /// <summary>The fixture's tensors under <paramref name="prefix"/> ('backbone', 'neck', 'neck_max'), prefix removed.</summary>
    public static Dictionary<string, Tensor> Weights(string prefix)
    {
        string path = Path.Combine(Folder, "weights.pth");
        return PretrainedWeights.SelectPrefix(PretrainedWeights.Read(path), prefix, path);
    }

    /// <summary>Loads <paramref name="prefix"/>'s weights into <paramref name="module"/>; returns the keys the module did not take.</summary>
    public static IReadOnlyList<string> Load(nn.Module module, string prefix)
    {
        var report = Checkpoint.LoadStateDict(module, Weights(prefix));
        Assert.Empty(report.MissingKeys);
        Assert.Empty(report.SizeMismatches);
        return report.UnexpectedKeys;
    }

    public static Tensor Input() => PretrainedWeights.Read(Path.Combine(Folder, "weights.pth"))["input"];

    public static IEnumerable<string> Strings(string name) => Outputs.Value.RootElement.GetProperty(name).EnumerateArray().Select(e => e.GetString()!);

    /// <summary>Checks <paramref name="actual"/> against the fixture's maps <paramref name="name"/>: count, shapes, sums and samples.</summary>
    public static void AssertMatches(string name, Tensor[] actual)
    {
        var expected = Outputs.Value.RootElement.GetProperty(name).EnumerateArray().ToList();
        Assert.Equal(expected.Count, actual.Length);
        for (int m = 0; m < expected.Count; m++)
        {
            var e = expected[m];
            Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(), actual[m].shape);
            var values = actual[m].contiguous().data<float>().ToArray();
            double absSum = values.Sum(v => Math.Abs((double)v));
            double eAbsSum = e.GetProperty("abs_sum").GetDouble();
            Near(eAbsSum, absSum, Math.Abs(eAbsSum), $"{name}[{m}] sum of |x|");
            // The sum may cancel to near zero: held to the tolerance of the map's magnitude (its sum of |x|).
            Near(e.GetProperty("sum").GetDouble(), values.Sum(v => (double)v), eAbsSum, $"{name}[{m}] sum");
            double meanAbs = eAbsSum / values.Length;
            foreach (var s in e.GetProperty("samples").EnumerateArray())
            {
                int index = s[0].GetInt32();
                double ev = s[1].GetDouble();
                Near(ev, values[index], Math.Max(Math.Abs(ev), meanAbs), $"{name}[{m}] value {index}");
            }
        }
    }

    private static void Near(double expected, double actual, double scale, string what) =>
        Assert.True(Math.Abs(expected - actual) <= RelativeTolerance * scale,
            $"{what}: {actual:R}, MMDetection {expected:R} (allowed {RelativeTolerance * scale:G3})");
}
