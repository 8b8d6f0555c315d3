using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Core.Tests.Parity;
using DetSharp.Datasets;
using DetSharp.Evaluation;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Parity;

/// <summary>
/// Test-time augmentation (MMDetection's <c>aug_test</c>) against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/tta</c>,
/// made by <c>tools/oracle/tta.py</c>; its README says how): slim Mask R-CNN, Cascade Mask R-CNN, HTC, RetinaNet and
/// FCOS with fixed weights, loaded strictly from their checkpoints, on one balloon val image through the fixture's test
/// pipeline (MultiScaleFlipAug, two scales, flip=True: four views). The views' shapes and flips, the merged RPN proposals
/// of the two-stage models (<c>merge_aug_proposals</c>), and what <see cref="Inference.Run"/> returns for the image: boxes,
/// scores, labels and mask areas after the merge (<c>merge_aug_bboxes</c>, multiclass NMS and <c>merge_aug_masks</c>;
/// RetinaNet and FCOS: the dense head's <c>aug_test_bboxes</c>, FCOS's centerness as score factor).
/// </summary>
public sealed class TtaParityTests(ITestOutputHelper output)
{
    private const string Family = "tta";
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", Family);

    // Float32 network outputs: coordinates and scores to 1e-4 relative (plus 1e-3 px near 0 for coordinates).
    private static readonly Tolerance Coordinate = Tolerance.Relative(1e-4, 1e-3);
    private static readonly Tolerance Score = Tolerance.Relative(1e-4, 1e-6);

    [SharedTheory("datasets/balloon")]
    [InlineData("mask_rcnn_tta")]
    [InlineData("cascade_mask_rcnn_tta")]
    [InlineData("htc_tta")]
    [InlineData("retinanet_tta")]
    [InlineData("fcos_tta")]
    public void Aug_test_matches_mmdetection(string model)
    {
        using var fixture = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, model + ".outputs.json")));
        var rec = fixture.RootElement.GetProperty("test");
        var cfg = Config.Config.FromFile(Path.Combine(Dir, model + ".model_config.py"));
        using var detector = ModelFixtures.Build(cfg.Get<Config.ConfigDict>("model"));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir, model + ".pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        detector.eval();
        var checks = new ParityChecks(Family, model);

        string image = SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString());
        using var sample = new DetSample { ImgInfo = new CocoImage(0, 0, 0, image) };
        using var processed = Inference.TestPipeline(cfg).Apply(sample, new Random(0)) ?? throw new InvalidOperationException("the pipeline dropped the image");
        var views = Inference.Views(processed);
        var expectedViews = rec.GetProperty("views").EnumerateArray().ToList();
        checks.Values("view count", [expectedViews.Count], [views.Count], Tolerance.Exact);

        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
        {
            var batches = views.Select(v => DetCollate.Collate([v], withGt: false)).ToList();
            var metas = batches.ConvertAll(b => b.ImgMetas[0]);
            var fields = new ExactFields();
            for (int a = 0; a < Math.Min(views.Count, expectedViews.Count); a++)
            {
                var e = expectedViews[a];
                fields.Add($"view {a} img_shape", Ints(e.GetProperty("img_shape"))[..2], [(long)metas[a].ImgShape.Height, metas[a].ImgShape.Width])
                    .Add($"view {a} flip", [e.GetProperty("flip").GetBoolean() ? 1 : 0], [metas[a].Flip ? 1 : 0])
                    .Add($"view {a} input_shape", e.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), batches[a].Img.shape);
            }
            checks.Exact("views", fields);

            if (rec.TryGetProperty("merged_proposals", out var proposals))
            {
                var twoStage = Assert.IsAssignableFrom<TwoStageDetector>(detector);
                var rpnCfg = cfg.Get<Config.ConfigDict>("model.test_cfg.rpn");
                var augProposals = batches.Select(b => twoStage.SimpleTestRpn(twoStage.ExtractFeat(b.Img), b.ImgMetas)[0]).ToList();
                var merged = MergeAugs.MergeAugProposals(augProposals, metas, rpnCfg);
                var expectedRows = proposals.EnumerateArray().Select(Doubles).ToList();
                checks.Values("merged proposal count", [expectedRows.Count], [merged.shape[0]], Tolerance.Exact);
                // Random weights can give proposals of equal score, which NMS may keep in either order: compared as sorted sets.
                var actualRows = Enumerable.Range(0, (int)merged.shape[0]).Select(i => merged[i].to_type(ScalarType.Float64).data<double>().ToArray()).ToList();
                checks.Values("merged proposals [x1, y1, x2, y2, score], sorted", SortedRows(expectedRows), SortedRows(actualRows), Coordinate);
            }
            foreach (var b in batches) b.Dispose();
        }

        var result = Inference.Run(detector, [processed], ["a", "b", "c"])[0];
        MeasureDetections(checks, result, rec);
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    /// <summary>
    /// The final detections as sets (MMDetection lists them per class): every expected one matched to a detection of the
    /// same label with its box and score within tolerance; the matched masks' areas (where the model has masks) to 0.5 % (pixels on the mask's edge
    /// may flip with a 1e-4 change of its box).
    /// </summary>
    private static void MeasureDetections(ParityChecks checks, DetectionSet result, JsonElement rec)
    {
        var expected = rec.GetProperty("detections").EnumerateArray().Select(Doubles).ToList();
        var areas = rec.TryGetProperty("mask_areas", out var a) ? a.EnumerateArray().Select(v => v.GetDouble()).ToList() : null;
        var got = result.Detections;
        checks.Values("detection count", [expected.Count], [got.Count], Tolerance.Exact);
        var matched = new bool[got.Count];
        var match = new int[expected.Count];
        for (int i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            match[i] = Enumerable.Range(0, got.Count)
                .Where(k => !matched[k] && got[k].Label == (int)e[5] && Score.Allows(Math.Abs(e[4] - got[k].Score), e[4])
                    && Box(got[k]).Select((v, c) => Coordinate.Allows(Math.Abs(e[c] - v), Math.Abs(e[c]))).All(ok => ok))
                .DefaultIfEmpty(-1)
                .MinBy(k => k < 0 ? double.MaxValue : Math.Abs(e[4] - got[k].Score));
            if (match[i] >= 0) matched[match[i]] = true;
        }
        var unmatched = Enumerable.Range(0, expected.Count).Where(i => match[i] < 0).ToList();
        checks.Count("expected detections without a match (label, box, score)", unmatched.Count, 0,
            unmatched.Count == 0 ? "all matched" : "unmatched: " + string.Join(", ", unmatched.Take(10)));
        var pairs = Enumerable.Range(0, expected.Count).Where(i => match[i] >= 0).ToList();
        checks.Values("matched boxes", pairs.SelectMany(i => expected[i][..4]).ToArray(), pairs.SelectMany(i => Box(got[match[i]])).ToArray(), Coordinate);
        checks.Values("matched scores", pairs.Select(i => expected[i][4]).ToArray(), pairs.Select(i => (double)got[match[i]].Score).ToArray(), Score);
        if (areas is not null)
        {
            checks.Values("matched mask areas", pairs.Select(i => areas[i]).ToArray(), pairs.Select(i => (double)got[match[i]].Mask!.Area()).ToArray(),
                Tolerance.Relative(5e-3, 2));
        }
    }

    private static double[] Box(Detection d) => [d.X1, d.Y1, d.X2, d.Y2];

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => (double)v.GetSingle()).ToArray();

    private static long[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    private static double[] SortedRows(List<double[]> rows) =>
        rows.OrderByDescending(r => r[4]).ThenBy(r => r[0]).ThenBy(r => r[1]).ThenBy(r => r[2]).ThenBy(r => r[3]).SelectMany(r => r).ToArray();
}
