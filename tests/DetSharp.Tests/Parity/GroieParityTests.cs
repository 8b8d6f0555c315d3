using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.Parity;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Common;
using DetSharp.Models.RoIHeads;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// GenericRoIExtractor (GRoIE) against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/groie</c>, made by
/// <c>tools/oracle/groie.py</c>; its README says how): slim variants of the groie/ configs' extractor — sum with a
/// ConvModule pre- and a GeneralizedAttention post-plugin, plain sum with <c>roi_scale_factor</c>, concat with a GN
/// ConvModule pre-plugin — built from the fixture's config, loaded with its weights, on fixed feature maps and RoIs of
/// every size; the state-dict keys in order and every output value within 1e-5 relative.
/// </summary>
public sealed class GroieParityTests(ITestOutputHelper output)
{
    private const string Family = "groie";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    public static TheoryData<string> Cases => ["sum_pre_post", "sum_plain_rescaled", "concat_pre"];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generic_roi_extractor_matches_mmdetection(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "outputs.json")));
        var rec = doc.RootElement.GetProperty(name);
        var cfg = Config.Config.FromText(rec.GetProperty("config_py").GetString()!, name + ".py").Get<ConfigDict>("extractor");
        using var extractor = Builders.Model<GenericRoIExtractor>(cfg);
        var checks = new ParityChecks(Family, name);
        var keys = rec.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToList();
        if (keys.Count == 0) Assert.Empty(ModuleTools.StateDict(extractor)); // RoIAlign has no parameters
        else
        {
            checks.Same("state-dict keys, in order", keys, ModuleTools.StateDict(extractor).Select(e => e.Key));
            var report = Checkpoint.LoadStateDict(extractor, Checkpoint.Load(Path.Combine(Dir, name + ".pth")).StateDict, strict: true);
            Assert.True(report.ExactMatch, report.Message);
        }
        extractor.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = Checkpoint.Load(Path.Combine(Dir, "inputs.pth")).StateDict;
        string feats = rec.GetProperty("feats").GetString()!;
        var maps = Enumerable.Range(0, 4).Select(i => inputs[$"{feats}.{i}"]).ToArray();
        var scale = rec.GetProperty("roi_scale_factor");
        double? factor = scale.ValueKind == JsonValueKind.Null ? null : scale.GetDouble();
        var y = extractor.Forward(maps, inputs["rois"], factor);
        var expected = rec.GetProperty("output");
        checks.Same("output shape", expected.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), y.shape);
        var e = expected.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var a = y.reshape(-1).to_type(ScalarType.Float64).data<double>().ToArray();
        double mean = e.Average(Math.Abs);
        // Relative to the larger of the value and the mean magnitude: what "relative" means for values near 0.
        checks.Values("output values", e, a, Tolerance.Relative(1e-5), reference: i => Math.Max(Math.Abs(e[i]), mean));
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    [Fact]
    public void Concat_that_does_not_fill_out_channels_is_refused()
    {
        var cfg = Config.Config.FromText("e = dict(type='GenericRoIExtractor', aggregation='concat', roi_layer=dict(type='RoIAlign', output_size=2, "
            + "sampling_ratio=0), out_channels=4, featmap_strides=[4, 8])", "concat.py").Get<ConfigDict>("e");
        using var extractor = Builders.Model<GenericRoIExtractor>(cfg);
        using var scope = NewDisposeScope();
        var feats = new[] { ones(1, 4, 8, 8), ones(1, 4, 4, 4) };
        var ex = Assert.Throws<DetSharpException>(() => extractor.Forward(feats, tensor(new float[] { 0, 0, 0, 16, 16 }).view(1, 5)));
        Assert.Contains("out_channels=8", ex.Message);
        var bad = Config.Config.FromText("e = dict(type='GenericRoIExtractor', aggregation='max', roi_layer=dict(type='RoIAlign', output_size=2), "
            + "out_channels=4, featmap_strides=[4])", "max.py").Get<ConfigDict>("e");
        Assert.Contains("aggregation", Assert.Throws<DetSharpException>(() => Builders.Model<GenericRoIExtractor>(bad)).Message);
    }
}
