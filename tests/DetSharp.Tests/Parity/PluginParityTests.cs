using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.Parity;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// mmcv's plugin layers and the ResNets that carry them against MMDetection 2.28.2 / mmcv 1.7.1
/// (<c>tests/fixtures/mmdet-2.28/plugins</c>, made by <c>tools/oracle/plugins.py</c>; its README says how), all with
/// fixed weights loaded from the fixture: each ContextBlock / GeneralizedAttention / NonLocal2d variant alone (built
/// through PLUGIN_LAYERS from the fixture's config, named by its abbreviation; output sum, |sum| and 32 samples to 1e-5
/// relative), two slim backbones with plugins at every position (feature maps, 1e-5), and the acceptance case, a slim
/// Faster R-CNN R-50 + GCB (ContextBlock r16 after conv3 of stages 2–4, SyncBN as BN) on a balloon image: backbone and
/// FPN maps, every RPN proposal and the final boxes and scores within 1e-4 relative.
/// </summary>
public sealed class PluginParityTests(ITestOutputHelper output)
{
    private const string Family = "plugins";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    private static readonly Tolerance Unit = Tolerance.Relative(1e-5);
    private static readonly Tolerance Detector = Tolerance.Relative(1e-4);

    public static TheoryData<string> Layers => Names("layers.json");

    public static TheoryData<string> Backbones => Names("backbones.json");

    [Theory]
    [MemberData(nameof(Layers))]
    public void Plugin_layer_matches_mmcv(string name)
    {
        using var doc = Json("layers.json");
        var rec = doc.RootElement.GetProperty(name);
        var cfg = Config.Config.FromText(rec.GetProperty("config_py").GetString()!, name + ".py").Get<ConfigDict>("plugin");
        var (layerName, layer) = PluginLayers.Build(cfg, rec.GetProperty("in_channels").GetInt64());
        using var owned = layer;
        var checks = new ParityChecks(Family, name);
        checks.Same("plugin name (abbreviation)", [rec.GetProperty("name").GetString()], [layerName]);
        var saved = Checkpoint.Load(Path.Combine(Dir, name + ".pth")).StateDict;
        // The fixture leaves out GeneralizedAttention's local_constraint_map (12 MB; it follows gamma): ours is compared by its sum.
        bool hasMap = rec.TryGetProperty("local_constraint_map", out _);
        var expectedKeys = saved.Keys.SelectMany(k => hasMap && k == "gamma" ? [k, "local_constraint_map"] : new[] { k });
        checks.Same("state-dict keys, in order", expectedKeys, ModuleTools.StateDict(layer).Select(e => e.Key));
        var report = Checkpoint.LoadStateDict(layer, saved, strict: false);
        Assert.True(report.MissingKeys.SequenceEqual(hasMap ? ["local_constraint_map"] : []) && report.UnexpectedKeys.Count == 0 && report.SizeMismatches.Count == 0,
            report.Message);
        if (rec.TryGetProperty("local_constraint_map", out var map))
        {
            var mine = ModuleTools.StateDict(layer).Single(e => e.Key == "local_constraint_map").Value;
            checks.Same("local_constraint_map shape", map.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), mine.shape);
            checks.Values("local_constraint_map sum", [map.GetProperty("sum").GetDouble()], [mine.to_type(ScalarType.Int64).sum().item<long>()], Tolerance.Exact);
        }
        layer.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = Checkpoint.Load(Path.Combine(Dir, "layer_inputs.pth")).StateDict[name];
        Measure(checks, "output", rec.GetProperty("output"), layer.forward(input), Unit);
        Report(checks);
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Backbone_with_plugins_matches_mmdetection(string name)
    {
        using var doc = Json("backbones.json");
        var rec = doc.RootElement.GetProperty(name);
        var cfg = Config.Config.FromText(rec.GetProperty("config_py").GetString()!, name + ".py").Get<ConfigDict>("backbone");
        using var model = Builders.Model<nn.Module<Tensor, Tensor[]>>(cfg);
        var weights = Checkpoint.Load(Path.Combine(Dir, name + ".pth")).StateDict;
        var checks = new ParityChecks(Family, name);
        checks.Same("state-dict keys, in order", weights.Keys, ModuleTools.StateDict(model).Select(e => e.Key));
        var report = Checkpoint.LoadStateDict(model, weights, strict: true);
        Assert.True(report.ExactMatch, report.Message);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = Checkpoint.Load(Path.Combine(Dir, "backbone_input.pth")).StateDict["input"];
        MeasureLevels(checks, "stage", rec.GetProperty("outputs"), model.forward(input), Unit);
        Report(checks);
    }

    [SharedFact("datasets/balloon")]
    public void Faster_rcnn_r50_gcb_matches_mmdetection()
    {
        const string name = "faster_rcnn_r50_gcb";
        using var doc = Json(name + ".outputs.json");
        var rec = doc.RootElement;
        using var model = (TwoStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir, name + ".model_config.py")));
        var report = CheckpointLoader.Load(model, Path.Combine(Dir, name + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        model.eval();
        var checks = new ParityChecks(Family, name);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()));
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Exact("input shapes", new ExactFields()
            .Add("img_shape", Floats(rec.GetProperty("img_shape"))[..2], [meta.ImgShape.Height, meta.ImgShape.Width])
            .Add("pad_shape", Floats(rec.GetProperty("pad_shape"))[..2], [meta.PadShape.Height, meta.PadShape.Width])
            .Add("input_shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape));
        checks.Values("input channel sums", Doubles(rec.GetProperty("input_channel_sums")),
            img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray(), Tolerance.Relative(1e-4, 1));

        MeasureLevels(checks, "backbone", rec.GetProperty("backbone_outputs"), model.Backbone.forward(img), Detector);
        var feats = model.ExtractFeat(img);
        MeasureLevels(checks, "FPN", rec.GetProperty("neck_outputs"), feats, Detector);

        var metas = new[] { meta };
        var proposals = model.SimpleTestRpn(feats, metas)[0];
        var expected = rec.GetProperty("proposals").EnumerateArray().Select(Floats).ToList();
        checks.Values("RPN proposal count", [expected.Count], [(double)proposals.shape[0]], Tolerance.Exact);
        var actual = Enumerable.Range(0, (int)proposals.shape[0]).Select(i => proposals[i].data<float>().ToArray()).ToList();
        MeasureRows(checks, "RPN proposals", expected, actual);

        // MMDetection's bbox2result lists the detections class by class, in its score order within a class.
        var result = model.SimpleTest(img, metas, rescale: true)[0];
        var dets = rec.GetProperty("detections").EnumerateArray().Select(Floats).OrderBy(r => r[5]).ToList();
        checks.Values("detection count", [dets.Count], [(double)result.Count], Tolerance.Exact);
        var mine = Enumerable.Range(0, result.Count).Select(i => (float[])[.. result.Bboxes.AsSpan(i * 4, 4), result.Scores[i], result.Labels[i]]).ToList();
        MeasureRows(checks, "final detections", dets, mine);
        Report(checks);
    }

    /// <summary>
    /// Rows [x1, y1, x2, y2, score(, label)] in MMDetection's order. Scores of random weights come close (adjacent
    /// proposals differ by 1e-7 relative), so float rounding may swap neighbours: each expected row is matched with the
    /// closest unused row at most <see cref="Window"/> ranks away; none may stay unmatched, and the matched boxes and
    /// scores must agree within 1e-4 relative (coordinates: relative to max(|x|, 1) px), labels exactly.
    /// </summary>
    private static void MeasureRows(ParityChecks checks, string what, IReadOnlyList<float[]> expected, IReadOnlyList<float[]> actual)
    {
        var used = new bool[actual.Count];
        var (e, a, unmatched) = (new List<double>(), new List<double>(), new List<int>());
        for (int i = 0; i < expected.Count; i++)
        {
            int best = -1;
            double bestDeviation = double.PositiveInfinity;
            for (int j = Math.Max(0, i - Window); j < Math.Min(actual.Count, i + Window + 1); j++)
            {
                if (used[j] || actual[j].Length != expected[i].Length) continue;
                double deviation = Enumerable.Range(0, expected[i].Length).Max(c => Math.Abs(actual[j][c] - expected[i][c]) / Math.Max(Math.Abs(expected[i][c]), 1));
                if (deviation < bestDeviation) (best, bestDeviation) = (j, deviation);
            }
            if (best < 0 || bestDeviation > RowTolerance.Rel)
            {
                unmatched.Add(i);
                continue;
            }
            used[best] = true;
            e.AddRange(expected[i].Select(v => (double)v));
            a.AddRange(actual[best].Select(v => (double)v));
        }
        checks.Count($"{what}: rows without a match", unmatched.Count, 0,
            unmatched.Count == 0 ? $"{expected.Count} matched" : "unmatched expected rows: " + string.Join(", ", unmatched.Take(20)));
        checks.Values($"{what}: matched boxes and scores", e, a, RowTolerance, reference: i => Math.Max(Math.Abs(e[i]), 1));
    }

    private const int Window = 5;
    private static readonly Tolerance RowTolerance = Tolerance.Relative(1e-4);

    /// <summary>A tensor against its fixture summary: shape, sum (within the tolerance of the sum of magnitudes), |sum|, samples.</summary>
    private static void Measure(ParityChecks checks, string what, JsonElement e, Tensor actual, Tolerance tolerance)
    {
        var flat = actual.reshape(-1).to_type(ScalarType.Float64);
        checks.Same($"{what} shape", e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), actual.shape);
        double absSum = e.GetProperty("abs_sum").GetDouble();
        // A sum of signed values: its rounding error scales with the sum of magnitudes, not with the (cancelling) sum.
        checks.Values($"{what} sum", [e.GetProperty("sum").GetDouble()], [flat.sum().item<double>()], tolerance, reference: _ => absSum);
        checks.Values($"{what} |sum|", [absSum], [flat.abs().sum().item<double>()], tolerance);
        var samples = e.GetProperty("samples").EnumerateArray().Select(s => (Index: s[0].GetInt64(), Value: s[1].GetDouble())).ToList();
        // Relative to the larger of the value and the mean magnitude: what "relative" means for values near 0.
        double mean = absSum / Math.Max(1, flat.shape[0]);
        bool inRange = samples.All(s => s.Index < flat.shape[0]);
        checks.Values($"{what} samples", samples.Select(s => s.Value).ToArray(),
            samples.Select(s => inRange ? flat[s.Index].item<double>() : double.NaN).ToArray(), tolerance,
            reference: i => Math.Max(Math.Abs(samples[i].Value), mean));
    }

    private static void MeasureLevels(ParityChecks checks, string what, JsonElement levels, IReadOnlyList<Tensor> actual, Tolerance tolerance)
    {
        var expected = levels.EnumerateArray().ToList();
        checks.Same($"{what}: levels", [expected.Count], [actual.Count]);
        for (int l = 0; l < Math.Min(expected.Count, actual.Count); l++) Measure(checks, $"{what}[{l}]", expected[l], actual[l], tolerance);
    }

    private void Report(ParityChecks checks)
    {
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    private static TheoryData<string> Names(string file)
    {
        using var doc = Json(file);
        return new(doc.RootElement.EnumerateObject().Select(p => p.Name).ToList());
    }

    private static JsonDocument Json(string file) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, file)));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

}
