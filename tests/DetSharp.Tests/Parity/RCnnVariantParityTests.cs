using System.Text.Json;
using DetSharp.Core.Tests.Parity;
using DetSharp.Models;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// Two-stage variants against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/rcnn_variants</c>, made by
/// <c>tools/oracle/rcnn_variants.py</c>; its README says how): slim models with fixed weights, built from the fixture's
/// model config and loaded strictly from its checkpoint. Mask Scoring R-CNN on one balloon val image: RPN proposals,
/// final boxes, scores, labels and mask scores; Faster R-CNN with OHEM on two balloon train images: every logged loss
/// (the RPN keeps every anchor, so nothing is drawn at random and OHEM's hard mining decides the RoIs).
/// </summary>
public sealed class RCnnVariantParityTests(ITestOutputHelper output)
{
    private const string Family = "rcnn_variants";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    // Boxes to 1e-3 px in input-image coordinates (2e-3 after dividing by a scale factor below 1), scores and losses
    // to 1e-4 relative.
    private static readonly Tolerance Box = Tolerance.Absolute(1e-3, 1e-6);
    private static readonly Tolerance RescaledBox = Tolerance.Absolute(2e-3, 1e-6);
    private static readonly Tolerance Score = Tolerance.Relative(1e-4, 1e-6);
    private static readonly Tolerance Loss = Tolerance.Relative(1e-4, 1e-9);

    [SharedFact("datasets/balloon")]
    public void Mask_scoring_rcnn_test_outputs_match_mmdetection()
    {
        using var fixture = Outputs("ms_rcnn");
        using var detector = Load("ms_rcnn");
        detector.eval();
        var rec = fixture.RootElement.GetProperty("test");
        var checks = new ParityChecks(Family, "ms_rcnn test");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()));
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Same("input shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);

        var proposals = detector.SimpleTestRpn(detector.ExtractFeat(img), [meta])[0];
        checks.Values("proposal count", [rec.GetProperty("proposal_count").GetDouble()], [(double)proposals.shape[0]], Tolerance.Exact);
        var expectedProposals = rec.GetProperty("proposals_first100").EnumerateArray().Select(Floats).ToList();
        var p = Values(proposals);
        checks.Values("proposals (first 100): scores", expectedProposals.Select(r => (double)r[4]).ToArray(),
            Enumerable.Range(0, expectedProposals.Count).Select(i => (double)p[i * 5 + 4]).ToArray(), Score);
        // Proposals whose scores agree to float precision may come in either order: each expected box is compared with
        // the nearest of ours among those of (nearly) the same score.
        var matched = expectedProposals.Select(e => Enumerable.Range(0, (int)proposals.shape[0])
            .Where(j => Math.Abs(p[j * 5 + 4] - e[4]) <= 1e-6 + 1e-4 * Math.Abs(e[4]))
            .Select(j => p.Skip(j * 5).Take(4).ToArray())
            .MinBy(b => Enumerable.Range(0, 4).Max(k => Math.Abs(b[k] - e[k]))) ?? [float.NaN, float.NaN, float.NaN, float.NaN]).ToList();
        checks.Values("proposals (first 100): boxes", expectedProposals.SelectMany(r => r[..4]).Select(v => (double)v).ToArray(),
            matched.SelectMany(b => b).Select(v => (double)v).ToArray(), Box);

        var result = detector.SimpleTest(img, [meta], rescale: true)[0];
        var expected = rec.GetProperty("detections").EnumerateArray().Select(Floats).ToList();
        checks.Values("detection count", [expected.Count], [result.Count], Tolerance.Exact);
        int n = Math.Min(expected.Count, result.Count);
        checks.Values("detections: boxes", expected.Take(n).SelectMany(r => r[..4]).Select(v => (double)v).ToArray(),
            result.Bboxes.Take(4 * n).Select(v => (double)v).ToArray(), RescaledBox);
        checks.Values("detections: scores", expected.Take(n).Select(r => (double)r[4]).ToArray(), result.Scores.Take(n).Select(v => (double)v).ToArray(), Score);
        checks.Same("detections: labels", expected.Take(n).Select(r => (long)r[5]), result.Labels.Take(n).Select(v => (long)v));
        Assert.True(result.MaskScores is not null, "Mask Scoring R-CNN gave no mask scores");
        checks.Values("mask scores", rec.GetProperty("mask_scores").EnumerateArray().Take(n).Select(v => v.GetDouble()).ToArray(),
            result.MaskScores!.Take(n).Select(v => (double)v).ToArray(), Score);
        Assert.Equal(result.Count, result.Masks?.Length);
        Report(checks);
    }

    [SharedFact("datasets/balloon")]
    public void Ohem_faster_rcnn_training_losses_match_mmdetection()
    {
        using var fixture = Outputs("faster_rcnn_ohem");
        using var detector = Load("faster_rcnn_ohem");
        detector.train();
        var train = fixture.RootElement.GetProperty("train");
        var checks = new ParityChecks(Family, "faster_rcnn_ohem train");
        using var scope = NewDisposeScope();
        var (img, metas, boxes, labels, _) = SlimModelParity.BalloonTrainBatch(train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!));
        checks.Same("batch input shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);

        var losses = detector.ForwardTrain(img, metas, boxes, labels);
        var (_, log) = losses.Parse();
        var expected = train.GetProperty("log_vars").EnumerateObject().ToList();
        checks.Same("logged keys, in order", expected.Select(e => e.Name), log.Keys);
        checks.Values("log_vars", expected.Select(e => e.Value.GetDouble()).ToArray(),
            expected.Select(e => log.TryGetValue(e.Name, out var v) ? v : double.NaN).ToArray(), Loss, names: expected.Select(e => e.Name).ToList());
        losses.DisposeAll();
        Report(checks);
    }

    private void Report(ParityChecks checks)
    {
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    private static TwoStageDetector Load(string model)
    {
        var detector = (TwoStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir, model + ".model_config.py")));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir, model + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return detector;
    }

    private static JsonDocument Outputs(string model) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, model + ".outputs.json")));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[] Values(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
}
