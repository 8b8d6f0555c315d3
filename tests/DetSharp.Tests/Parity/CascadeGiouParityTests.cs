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
/// Cascade R-CNN whose three bbox heads regress decoded boxes with GIoULoss (<c>reg_decoded_bbox=True</c>) against
/// MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/cascade_giou</c>, made by <c>tools/oracle/cascade_giou.py</c>; its
/// README says how): a slim model with fixed weights, built from the fixture's model config and loaded strictly from
/// its checkpoint. On one small balloon val image: RPN proposals, final boxes, scores and labels; on a batch of two
/// small balloon train images: every logged loss (every sampler keeps every candidate, so nothing is drawn at random).
/// </summary>
public sealed class CascadeGiouParityTests(ITestOutputHelper output)
{
    private const string Family = "cascade_giou";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    // Boxes, scores and losses to 1e-4 relative; boxes with a 1e-3 px floor near the image origin, and reported in px
    // (a relative figure of a coordinate near 0 says little).
    private static readonly Tolerance Box = Tolerance.Absolute(1e-3, 1e-4);
    private static readonly Tolerance Score = Tolerance.Relative(1e-4, 1e-6);
    private static readonly Tolerance Loss = Tolerance.Relative(1e-4, 1e-9);

    [SharedFact("datasets/balloon")]
    public void Test_outputs_match_mmdetection()
    {
        using var fixture = Outputs();
        using var detector = Load();
        detector.eval();
        var scale = Scale(fixture);
        var rec = fixture.RootElement.GetProperty("test");
        var checks = new ParityChecks(Family, "cascade_giou test");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()),
            longEdge: scale[0], shortEdge: scale[1]);
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Same("input shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);

        var proposals = detector.SimpleTestRpn(detector.ExtractFeat(img), [meta])[0];
        checks.Values("proposal count", [rec.GetProperty("proposal_count").GetDouble()], [(double)proposals.shape[0]], Tolerance.Exact);
        var expectedProposals = rec.GetProperty("proposals_first100").EnumerateArray().Select(Floats).ToList();
        var p = Values(proposals);
        checks.Values("proposals (first 100): scores", expectedProposals.Select(r => (double)r[4]).ToArray(),
            Enumerable.Range(0, expectedProposals.Count).Select(i => (double)p[i * 5 + 4]).ToArray(), Score);
        checks.Values("proposals (first 100): boxes", expectedProposals.SelectMany(r => r[..4]).Select(v => (double)v).ToArray(),
            Enumerable.Range(0, expectedProposals.Count).SelectMany(i => p.Skip(i * 5).Take(4)).Select(v => (double)v).ToArray(), Box);

        var result = detector.SimpleTest(img, [meta], rescale: true)[0];
        var expected = rec.GetProperty("detections").EnumerateArray().Select(Floats).ToList();
        checks.Values("detection count", [expected.Count], [result.Count], Tolerance.Exact);
        int n = Math.Min(expected.Count, result.Count);
        checks.Values("detections: boxes", expected.Take(n).SelectMany(r => r[..4]).Select(v => (double)v).ToArray(),
            result.Bboxes.Take(4 * n).Select(v => (double)v).ToArray(), Box);
        checks.Values("detections: scores", expected.Take(n).Select(r => (double)r[4]).ToArray(), result.Scores.Take(n).Select(v => (double)v).ToArray(), Score);
        checks.Same("detections: labels", expected.Take(n).Select(r => (long)r[5]), result.Labels.Take(n).Select(v => (long)v));
        Report(checks);
    }

    [SharedFact("datasets/balloon")]
    public void Training_losses_match_mmdetection()
    {
        using var fixture = Outputs();
        using var detector = Load();
        detector.train();
        var scale = Scale(fixture);
        var train = fixture.RootElement.GetProperty("train");
        var checks = new ParityChecks(Family, "cascade_giou train");
        using var scope = NewDisposeScope();
        var (img, metas, boxes, labels, _) = SlimModelParity.BalloonTrainBatch(train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!),
            scale[0], scale[1]);
        checks.Same("batch input shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);
        checks.Values("GT boxes after the pipeline", train.GetProperty("gt_bboxes").EnumerateArray().SelectMany(r => r.EnumerateArray().SelectMany(Floats)).Select(v => (double)v).ToArray(),
            boxes.SelectMany(Values).Select(v => (double)v).ToArray(), Tolerance.Absolute(1e-4, 1e-4));

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

    private static TwoStageDetector Load()
    {
        var detector = (TwoStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir, Family + ".model_config.py")));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir, Family + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return detector;
    }

    private static JsonDocument Outputs() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, Family + ".outputs.json")));

    private static int[] Scale(JsonDocument fixture) => fixture.RootElement.GetProperty("scale").EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[] Values(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
}
