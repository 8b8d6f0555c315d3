using System.Text.Json;
using DetSharp.Core.Tests.Parity;
using DetSharp.Models;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// The one-stage detectors against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/dense_heads</c>, made by
/// <c>tools/oracle/dense_heads.py</c>; its README says how): slim models with fixed weights, built from the fixture's
/// own model config and loaded strictly from its checkpoint. On one balloon val image: the network input, every head
/// output per level (shape, sum, 32 samples), the candidates before NMS and the final detections; on two balloon train
/// images: every logged loss and the per-level losses. The VarifocalNets of <c>tests/fixtures/mmdet-2.28/vfnet</c>
/// (<c>tools/oracle/vfnet.py</c>, same format, plus the head's first box distances <c>bbox_preds_init</c>) the same way.
/// </summary>
public sealed class DenseHeadParityTests(ITestOutputHelper output)
{
    private const string Family = "dense_heads", Vfnet = "vfnet";

    private static string Dir(string family) => Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", family);

    private static TheoryData<string> ModelsOf(string family) =>
        new(Directory.GetFiles(Dir(family), "*.outputs.json").Select(f => Path.GetFileName(f)[..^".outputs.json".Length]).Order());

    public static TheoryData<string> Models => ModelsOf(Family);

    public static TheoryData<string> VfnetModels => ModelsOf(Vfnet);

    // Logits and regression outputs of a float32 network: 1e-4 relative. Boxes to 1e-3 px (in input-image
    // coordinates, 2e-3 after dividing by a scale factor below 1), scores to 1e-4 relative.
    private static readonly Tolerance Output = Tolerance.Relative(1e-4, 1e-4);
    private static readonly Tolerance Box = Tolerance.Absolute(1e-3, 1e-6);
    private static readonly Tolerance RescaledBox = Tolerance.Absolute(2e-3, 1e-6);
    private static readonly Tolerance Score = Tolerance.Relative(1e-4, 1e-6);
    private static readonly Tolerance Loss = Tolerance.Relative(1e-4, 1e-9);

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(Models))]
    public void Test_outputs_match_mmdetection(string model) => TestOutputs(Family, model);

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(Models))]
    public void Training_losses_match_mmdetection(string model) => TrainingLosses(Family, model);

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(VfnetModels))]
    public void Vfnet_test_outputs_match_mmdetection(string model) => TestOutputs(Vfnet, model);

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(VfnetModels))]
    public void Vfnet_training_losses_match_mmdetection(string model) => TrainingLosses(Vfnet, model);

    private void TestOutputs(string family, string model)
    {
        using var fixture = Outputs(family, model);
        using var detector = Load(family, model);
        detector.eval();
        var checks = new ParityChecks(family, $"{model} test");
        foreach (var rec in fixture.RootElement.GetProperty("test").EnumerateArray()) MeasureTest(checks, detector, rec);
        Report(checks);
    }

    private void TrainingLosses(string family, string model)
    {
        using var fixture = Outputs(family, model);
        using var detector = Load(family, model);
        detector.train();
        var train = fixture.RootElement.GetProperty("train");
        var checks = new ParityChecks(family, $"{model} train");
        using var scope = NewDisposeScope();
        var (img, metas, boxes, labels, _) = SlimModelParity.BalloonTrainBatch(train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!));
        checks.Same("batch input shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);
        checks.Values("GT boxes after the pipeline", train.GetProperty("gt_bboxes").EnumerateArray().SelectMany(Flat).ToArray(),
            boxes.SelectMany(Values).ToArray(), Tolerance.Absolute(1e-4, 1e-4));

        var losses = detector.ForwardTrain(img, metas, boxes, labels);
        var (_, log) = losses.Parse();
        var expected = train.GetProperty("log_vars").EnumerateObject().ToList();
        checks.Same("logged keys, in order", expected.Select(p => p.Name), log.Keys);
        checks.Values("log_vars", expected.Select(p => p.Value.GetDouble()).ToArray(),
            expected.Select(p => log.TryGetValue(p.Name, out var v) ? v : double.NaN).ToArray(), Loss, names: expected.Select(p => p.Name).ToList());
        var raw = losses.Items.ToDictionary(i => i.Key, i => i.Values);
        foreach (var entry in train.GetProperty("raw_losses").EnumerateObject())
        {
            double[] e = entry.Value.ValueKind == JsonValueKind.Array ? entry.Value.EnumerateArray().Select(v => v.GetDouble()).ToArray() : [entry.Value.GetDouble()];
            double[] a = raw.TryGetValue(entry.Name, out var t) ? t.Select(x => (double)x.item<float>()).ToArray() : [];
            // A missing key or a different level count shows as NaN.
            int n = Math.Max(e.Length, a.Length);
            checks.Values($"{entry.Name} per level", Pad(e, n), Pad(a, n), Loss);
        }
        losses.DisposeAll();
        Report(checks);
    }

    private static void MeasureTest(ParityChecks checks, SingleStageDetector detector, JsonElement rec)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()));
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Exact("input shapes, scale factor", new ExactFields()
            .Add("img_shape", Floats(rec.GetProperty("img_shape"))[..2], [meta.ImgShape.Height, meta.ImgShape.Width])
            .Add("pad_shape", Floats(rec.GetProperty("pad_shape"))[..2], [meta.PadShape.Height, meta.PadShape.Width])
            .Add("input_shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape));
        checks.Values("input channel sums", rec.GetProperty("input_channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
            img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray(), Tolerance.Relative(1e-4, 1));

        var metas = new[] { meta };
        var feats = detector.ExtractFeat(img);
        var outs = detector.BboxHead.Forward(feats);
        var heads = rec.GetProperty("head_outputs");
        MeasureOutputs(checks, "cls_scores", heads.GetProperty("cls_scores"), outs.ClsScores);
        MeasureOutputs(checks, "bbox_preds", heads.GetProperty("bbox_preds"), outs.BboxPreds);
        if (heads.TryGetProperty("centernesses", out var centerness))
        {
            Assert.True(outs.ScoreFactors is not null, "MMDetection's head has score factors (centerness); ours has none");
            MeasureOutputs(checks, "centernesses", centerness, outs.ScoreFactors);
        }
        if (heads.TryGetProperty("bbox_preds_init", out var initial))
        {
            Assert.True(outs is VFNetHeadOutputs, "MMDetection's head has first box distances (VFNet); ours has none");
            MeasureOutputs(checks, "bbox_preds_init", initial, ((VFNetHeadOutputs)outs).InitialBboxPreds);
        }

        var pre = detector.BboxHead.GetBboxes(outs, metas, rescale: false, withNms: false)[0];
        checks.Values("candidates before NMS", [rec.GetProperty("pre_nms_count").GetDouble()], [(double)pre.Dets.shape[0]], Tolerance.Exact);
        var order = pre.Dets[.., 4].sort(stable: true, descending: true).Indices;
        MeasureRows(checks, "before NMS (best 100)", rec.GetProperty("pre_nms_first100"), pre.Dets[order], pre.Labels[order], Box);

        var dets = detector.BboxHead.SimpleTest(feats, metas, rescale: true)[0];
        checks.Values("detection count", [rec.GetProperty("detections").GetArrayLength()], [(double)dets.Dets.shape[0]], Tolerance.Exact);
        MeasureRows(checks, "detections", rec.GetProperty("detections"), dets.Dets, dets.Labels, RescaledBox);
    }

    internal static void MeasureOutputs(ParityChecks checks, string kind, JsonElement levels, IReadOnlyList<Tensor> actual)
    {
        var expected = levels.EnumerateArray().ToList();
        checks.Same($"{kind}: levels", [expected.Count], [actual.Count]);
        for (int l = 0; l < Math.Min(expected.Count, actual.Count); l++)
        {
            var e = expected[l];
            var flat = actual[l].reshape(-1).to_type(ScalarType.Float64);
            checks.Same($"{kind}[{l}] shape", e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), actual[l].shape);
            double absSum = e.GetProperty("abs_sum").GetDouble();
            // A sum of many signed values: its error scales with the sum of magnitudes, not with the (cancelling) sum.
            checks.Values($"{kind}[{l}] sum", [e.GetProperty("sum").GetDouble()], [flat.sum().item<double>()], Tolerance.Absolute(1e-4 * absSum));
            checks.Values($"{kind}[{l}] |sum|", [absSum], [flat.abs().sum().item<double>()], Output);
            var samples = e.GetProperty("samples").EnumerateArray().Select(s => (Index: s[0].GetInt64(), Value: s[1].GetDouble())).ToList();
            bool inRange = samples.All(s => s.Index < flat.shape[0]);
            checks.Values($"{kind}[{l}] samples", samples.Select(s => s.Value).ToArray(),
                samples.Select(s => inRange ? flat[s.Index].item<double>() : double.NaN).ToArray(), Output);
        }
    }

    /// <summary>
    /// Rows [x1, y1, x2, y2, score, label] in MMDetection's order: boxes, scores and labels of the first
    /// <c>expectedRows.Count</c> rows, which must all be there. Rows whose expected scores lie within the score tolerance
    /// of each other have no order the tolerance can fix: within each such run the actual rows are paired with the
    /// expected ones by nearest box (same label first) before comparing.
    /// </summary>
    internal static void MeasureRows(ParityChecks checks, string what, JsonElement expectedRows, Tensor dets, Tensor labels, Tolerance box)
    {
        var expected = expectedRows.EnumerateArray().Select(r => Floats(r)).ToList();
        long n = Math.Min(expected.Count, dets.shape[0]);
        checks.Values($"{what}: rows compared", [expected.Count], [(double)n], Tolerance.Exact);
        var order = TiedRunsPaired(expected, Values(dets[..(int)n]), labels[..(int)n].data<long>().ToArray());
        var index = tensor(order, device: dets.device);
        dets = dets[..(int)n][index];
        labels = labels[..(int)n][index];
        var d = Values(dets);
        checks.Values($"{what}: boxes", expected.Take((int)n).SelectMany(r => r[..4]).Select(v => (double)v).ToArray(),
            Enumerable.Range(0, (int)n).SelectMany(i => d.Skip(i * 5).Take(4)).Select(v => (double)v).ToArray(), box);
        checks.Values($"{what}: scores", expected.Take((int)n).Select(r => (double)r[4]).ToArray(),
            Enumerable.Range(0, (int)n).Select(i => (double)d[i * 5 + 4]).ToArray(), Score);
        checks.Same($"{what}: labels", expected.Take((int)n).Select(r => (long)r[5]), labels.data<long>().ToArray());
    }

    /// <summary>The actual row for each expected row: itself, except inside runs of scores tied within <see cref="Score"/>.</summary>
    private static long[] TiedRunsPaired(List<float[]> expected, float[] actual, long[] actualLabels)
    {
        int n = actualLabels.Length;
        var order = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        for (int i = 0, j; i < n; i = j + 1)
        {
            for (j = i; j + 1 < n && Score.Allows(Math.Abs(expected[j + 1][4] - expected[j][4]), Math.Abs(expected[j][4])); j++)
            {
            }
            var free = Enumerable.Range(i, j - i + 1).ToList();
            for (int k = i; k <= j; k++)
            {
                var e = expected[k];
                int best = free.MinBy(a => (actualLabels[a] == (long)e[5] ? 0 : 1, Enumerable.Range(0, 4).Sum(c => Math.Abs(actual[a * 5 + c] - e[c]))));
                order[k] = best;
                free.Remove(best);
            }
        }
        return order;
    }

    private void Report(ParityChecks checks)
    {
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    private static SingleStageDetector Load(string family, string model)
    {
        var detector = (SingleStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir(family), model + ".model_config.py")));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir(family), model + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return detector;
    }

    private static JsonDocument Outputs(string family, string model) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir(family), model + ".outputs.json")));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[] Flat(JsonElement rows) => rows.EnumerateArray().SelectMany(Floats).ToArray();

    private static float[] Values(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    private static double[] Pad(double[] v, int n) => v.Length == n ? v : [.. v, .. Enumerable.Repeat(double.NaN, n - v.Length)];
}
