using System.Text.Json;
using DetSharp.Core.Tests.Parity;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.RoIHeads;
using DetSharp.Structures;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// Hybrid Task Cascade against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/htc</c>, made by
/// <c>tools/oracle/htc.py</c>; its README says how): slim HTC models (without and with the semantic branch) with fixed
/// weights, built from the fixture's model config and loaded strictly from its checkpoint. On one balloon val image at
/// a small scale: the input, the RPN proposals, each stage's bbox outputs on the RoIs simple_test gives it, and the final
/// boxes, scores, labels and masks; on one balloon train image (every sampler keeping all candidates): every logged
/// loss and accuracy, in MMDetection's order.
/// </summary>
public sealed class HtcParityTests(ITestOutputHelper output)
{
    private const string Family = "htc";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    public static TheoryData<string> Models => new(Directory.GetFiles(Dir, "*.outputs.json").Select(f => Path.GetFileName(f)[..^".outputs.json".Length]).Order());

    // Float32 network outputs and losses: 1e-4 relative. Coordinates to 1e-4 relative of the coordinate (plus 1e-3 px
    // near 0); boxes after dividing by the scale factor likewise.
    private static readonly Tolerance Output = Tolerance.Relative(1e-4, 1e-5);
    private static readonly Tolerance Coordinate = Tolerance.Relative(1e-4, 1e-3);
    private static readonly Tolerance Score = Tolerance.Relative(1e-4, 1e-6);
    private static readonly Tolerance Loss = Tolerance.Relative(1e-4, 1e-9);

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(Models))]
    public void Test_outputs_match_mmdetection(string model)
    {
        using var fixture = Outputs(model);
        using var detector = Load(model);
        detector.eval();
        var scale = fixture.RootElement.GetProperty("scale").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var checks = new ParityChecks(Family, $"{model} test");
        foreach (var rec in fixture.RootElement.GetProperty("test").EnumerateArray()) MeasureTest(checks, detector, rec, scale);
        Report(checks);
    }

    [SharedTheory("datasets/balloon")]
    [MemberData(nameof(Models))]
    public void Training_losses_match_mmdetection(string model)
    {
        using var fixture = Outputs(model);
        using var detector = Load(model);
        detector.train();
        var scale = fixture.RootElement.GetProperty("scale").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var train = fixture.RootElement.GetProperty("train");
        var checks = new ParityChecks(Family, $"{model} train");
        using var scope = NewDisposeScope();
        var (img, metas, boxes, labels, masks) = SlimModelParity.BalloonTrainBatch(train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!),
            scale[0], scale[1]);
        checks.Same("batch input shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);
        checks.Values("GT boxes after the pipeline", train.GetProperty("gt_bboxes").EnumerateArray().SelectMany(Flat).ToArray(),
            boxes.SelectMany(Values).ToArray(), Tolerance.Absolute(1e-4, 1e-4));
        Tensor? seg = null;
        if (train.TryGetProperty("gt_semantic_seg", out var s))
            seg = tensor(s.GetProperty("data").EnumerateArray().Select(v => v.GetInt64()).ToArray(), s.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray());

        var losses = detector.ForwardTrain(img, metas, boxes, labels, masks, null, seg);
        var (_, log) = losses.Parse();
        var expected = train.GetProperty("log_vars").EnumerateObject().ToList();
        checks.Same("logged keys, in order", expected.Select(p => p.Name), log.Keys);
        checks.Values("log_vars", expected.Select(p => p.Value.GetDouble()).ToArray(),
            expected.Select(p => log.TryGetValue(p.Name, out var v) ? v : double.NaN).ToArray(), Loss, names: expected.Select(p => p.Name).ToList());
        losses.DisposeAll();
        Report(checks);
    }

    private static void MeasureTest(ParityChecks checks, HybridTaskCascade detector, JsonElement rec, int[] scale)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()), longEdge: scale[0], shortEdge: scale[1]);
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Exact("input shapes", new ExactFields()
            .Add("img_shape", Floats(rec.GetProperty("img_shape"))[..2], [meta.ImgShape.Height, meta.ImgShape.Width])
            .Add("pad_shape", Floats(rec.GetProperty("pad_shape"))[..2], [meta.PadShape.Height, meta.PadShape.Width])
            .Add("input_shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape));
        checks.Values("input channel sums", rec.GetProperty("input_channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
            img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray(), Tolerance.Relative(1e-4, 1));

        var metas = new[] { meta };
        var head = (HybridTaskCascadeRoIHead)detector.RoiHead;
        var x = detector.ExtractFeat(img);
        var proposals = detector.SimpleTestRpn(x, metas);
        var expectedProposals = rec.GetProperty("proposals");
        checks.Values("RPN proposal count", [expectedProposals.GetArrayLength()], [(double)proposals[0].shape[0]], Tolerance.Exact);
        // Random weights give proposals of equal score, which NMS may keep in either order: compared as sorted sets.
        var expectedRows = expectedProposals.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToList();
        var actualRows = Enumerable.Range(0, (int)proposals[0].shape[0]).Select(i => Values(proposals[0][i])).ToList();
        checks.Values("RPN proposals [x1, y1, x2, y2, score], sorted", SortedRows(expectedRows), SortedRows(actualRows), Coordinate);

        var semanticFeat = head.SemanticFeatures(x);
        if (rec.TryGetProperty("semantic_feat_sum", out var semSum))
            checks.Values("semantic features: sum", [semSum.GetDouble()], [semanticFeat!.to_type(ScalarType.Float64).sum().item<double>()], Tolerance.Relative(1e-4, 1e-2));
        else checks.Same("semantic branch", [false], [head.WithSemantic]);
        // The stages start from MMDetection's proposals, in its order; our own refined RoIs feed the next stage, so a
        // deviation shows at the stage that introduces it.
        var rois = BoxTools.Bbox2Roi([tensor(expectedRows.SelectMany(r => r.Select(v => (float)v)).ToArray(), [expectedRows.Count, 5])]);
        foreach (var st in rec.GetProperty("roi_stages").EnumerateArray())
        {
            int stage = st.GetProperty("stage").GetInt32();
            checks.Values($"stage {stage} RoIs (first 20)", Flat(st.GetProperty("rois_first20")), Values(rois[..20]), Coordinate);
            var (cls, reg) = head.BboxForward(stage, x, rois, semanticFeat);
            checks.Values($"stage {stage} cls_score (first 20)", Flat(st.GetProperty("cls_score_first20")), Values(cls[..20]), Output);
            checks.Values($"stage {stage} bbox_pred (first 20)", Flat(st.GetProperty("bbox_pred_first20")), Values(reg[..20]), Output);
            checks.Values($"stage {stage} cls_score, bbox_pred sums", [st.GetProperty("cls_score_sum").GetDouble(), st.GetProperty("bbox_pred_sum").GetDouble()],
                [cls.to_type(ScalarType.Float64).sum().item<double>(), reg.to_type(ScalarType.Float64).sum().item<double>()], Tolerance.Relative(1e-4, 1e-3));
            if (stage < head.NumStages - 1) rois = head.BboxHeads[stage].RegressByClass(rois, cls[.., ..^1].argmax(1), reg, meta);
        }
        MeasureDetections(checks, detector.SimpleTest(img, metas, rescale: true)[0], rec);
    }

    /// <summary>
    /// The final detections as sets (MMDetection lists them per class): every expected one matched to a detection of the
    /// same label with its box and score within tolerance; the matched masks' areas to 0.5 % (pixels on the mask's
    /// edge may flip with a 1e-4 change of its box) and, for the best 10, 1 − IoU of the RLE within 0.005.
    /// </summary>
    private static void MeasureDetections(ParityChecks checks, DetectionResult result, JsonElement rec)
    {
        var expected = rec.GetProperty("detections").EnumerateArray().Select(Floats).ToList();
        var areas = rec.GetProperty("mask_areas").EnumerateArray().Select(v => v.GetDouble()).ToList();
        checks.Values("detection count", [expected.Count], [(double)result.Count], Tolerance.Exact);
        var matched = new bool[result.Count];
        var match = new int[expected.Count];
        for (int i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            match[i] = Enumerable.Range(0, result.Count)
                .Where(k => !matched[k] && result.Labels[k] == (int)e[5] && Score.Allows(Math.Abs(e[4] - result.Scores[k]), e[4])
                    && Enumerable.Range(0, 4).All(c => Coordinate.Allows(Math.Abs(e[c] - result.Bboxes[k * 4 + c]), Math.Abs(e[c]))))
                .DefaultIfEmpty(-1)
                .MinBy(k => k < 0 ? double.MaxValue : Math.Abs(e[4] - result.Scores[k]));
            if (match[i] >= 0) matched[match[i]] = true;
        }
        var unmatched = Enumerable.Range(0, expected.Count).Where(i => match[i] < 0).ToList();
        checks.Count("expected detections without a match (label, box, score)", unmatched.Count, 0,
            unmatched.Count == 0 ? "all matched" : "unmatched: " + string.Join(", ", unmatched.Take(10)));
        var pairs = Enumerable.Range(0, expected.Count).Where(i => match[i] >= 0).ToList();
        checks.Values("matched boxes", pairs.SelectMany(i => expected[i][..4]).Select(v => (double)v).ToArray(),
            pairs.SelectMany(i => result.Bboxes.Skip(match[i] * 4).Take(4)).Select(v => (double)v).ToArray(), Coordinate);
        checks.Values("matched scores", pairs.Select(i => (double)expected[i][4]).ToArray(), pairs.Select(i => (double)result.Scores[match[i]]).ToArray(), Score);
        checks.Values("matched mask areas", pairs.Select(i => areas[i]).ToArray(), pairs.Select(i => (double)result.Masks![match[i]].Area()).ToArray(),
            Tolerance.Relative(5e-3, 2));
        var (shortfall, names) = (new List<double>(), new List<string>());
        foreach (var entry in rec.GetProperty("mask_rles").EnumerateObject())
        {
            int i = int.Parse(entry.Name, System.Globalization.CultureInfo.InvariantCulture);
            var size = entry.Value.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            var exp = Rle.FromCompressedString(entry.Value.GetProperty("counts").GetString()!, size[0], size[1]);
            double iou = 0;
            if (match[i] >= 0 && result.Masks![match[i]] is { } got && got.Height == size[0] && got.Width == size[1])
            {
                double union = Rle.Merge([exp, got]).Area();
                iou = union == 0 ? 1 : Rle.Merge([exp, got], intersect: true).Area() / union;
            }
            shortfall.Add(1 - iou);
            names.Add($"mask of detection {i}");
        }
        checks.Values("best 10 masks: 1 − IoU", new double[shortfall.Count], shortfall, Tolerance.Absolute(0.005), names: names);
    }

    private void Report(ParityChecks checks)
    {
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    private static HybridTaskCascade Load(string model)
    {
        var detector = (HybridTaskCascade)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir, model + ".model_config.py")));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir, model + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return detector;
    }

    private static JsonDocument Outputs(string model) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, model + ".outputs.json")));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static double[] Flat(JsonElement rows) => rows.EnumerateArray().SelectMany(Floats).Select(v => (double)v).ToArray();

    private static double[] SortedRows(List<double[]> rows) =>
        rows.OrderByDescending(r => r[4]).ThenBy(r => r[0]).ThenBy(r => r[1]).ThenBy(r => r[2]).ThenBy(r => r[3]).SelectMany(r => r).ToArray();

    private static double[] Values(Tensor t) => t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
}
