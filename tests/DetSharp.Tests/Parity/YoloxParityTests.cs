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
/// YOLOX against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/yolox</c>, made by <c>tools/oracle/yolox.py</c>; its
/// README says how): a slim YOLOX (CSPDarknet deepen 0.33 widen 0.125, YOLOXPAFPN and YOLOXHead at 32 channels) with
/// fixed weights, built from the fixture's model config and loaded strictly from its checkpoint. On one balloon val image
/// resized to 416: the input, every head output per level (classification, box, objectness) and the detections after
/// score_thr and NMS, in input and in original coordinates; on two balloon train images: every logged loss with
/// <c>use_l1</c> off and on (SimOTA assigns inside the loss, so the losses hold its assignment).
/// </summary>
public sealed class YoloxParityTests(ITestOutputHelper output)
{
    private const int Scale = 416;
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "yolox");
    private static readonly Tolerance Box = Tolerance.Absolute(1e-3, 1e-6);
    private static readonly Tolerance RescaledBox = Tolerance.Absolute(3e-3, 1e-6);
    private static readonly Tolerance Loss = Tolerance.Relative(1e-4, 1e-9);

    [SharedFact("datasets/balloon")]
    public void Head_outputs_and_detections_match_mmdetection()
    {
        using var fixture = Outputs();
        using var detector = Load();
        detector.eval();
        var rec = fixture.RootElement.GetProperty("test")[0];
        var checks = new ParityChecks("yolox", "yolox test");
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + rec.GetProperty("file_name").GetString()),
                longEdge: Scale, shortEdge: Scale);
            var img = MmdetInput.Batch([(chw, meta)]);
            checks.Same("input shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);
            checks.Values("input channel sums", rec.GetProperty("input_channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
                img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray(), Tolerance.Relative(1e-4, 1));
            var feats = detector.ExtractFeat(img);
            var outs = detector.BboxHead.Forward(feats);
            var heads = rec.GetProperty("head_outputs");
            DenseHeadParityTests.MeasureOutputs(checks, "cls_scores", heads.GetProperty("cls_scores"), outs.ClsScores);
            DenseHeadParityTests.MeasureOutputs(checks, "bbox_preds", heads.GetProperty("bbox_preds"), outs.BboxPreds);
            DenseHeadParityTests.MeasureOutputs(checks, "objectnesses", heads.GetProperty("objectnesses"), outs.ScoreFactors!);
            foreach (var (key, rescale, tolerance) in new[] { ("detections_unscaled", false, Box), ("detections", true, RescaledBox) })
            {
                var dets = detector.BboxHead.GetBboxes(outs, [meta], rescale: rescale)[0];
                checks.Values($"{key}: count", [rec.GetProperty(key).GetArrayLength()], [(double)dets.Dets.shape[0]], Tolerance.Exact);
                DenseHeadParityTests.MeasureRows(checks, key, rec.GetProperty(key), dets.Dets, dets.Labels, tolerance);
            }
        }
        Report(checks);
    }

    [SharedTheory("datasets/balloon")]
    [InlineData(false)]
    [InlineData(true)]
    public void Training_losses_match_mmdetection(bool useL1)
    {
        using var fixture = Outputs();
        using var detector = Load();
        detector.train();
        ((YOLOXHead)detector.BboxHead).UseL1 = useL1;
        var train = fixture.RootElement.GetProperty("train").EnumerateArray().Single(t => t.GetProperty("use_l1").GetBoolean() == useL1);
        var checks = new ParityChecks("yolox", $"yolox train use_l1={useL1}");
        using (var scope = NewDisposeScope())
        {
            var (img, metas, boxes, labels, _) = SlimModelParity.BalloonTrainBatch(train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!),
                longEdge: Scale, shortEdge: Scale);
            checks.Same("batch input shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape);
            checks.Values("GT boxes after the pipeline", train.GetProperty("gt_bboxes").EnumerateArray().SelectMany(r => r.EnumerateArray()).SelectMany(r => r.EnumerateArray())
                .Select(v => v.GetDouble()).ToArray(), boxes.SelectMany(b => b.data<float>().ToArray()).Select(v => (double)v).ToArray(), Tolerance.Absolute(1e-4, 1e-4));
            // SimOTA's assignment (priors, GTs, IoUs of the positives), on the training forward's own outputs.
            var head = (YOLOXHead)detector.BboxHead;
            var assigned = head.Assign(head.Forward(detector.ExtractFeat(img)), boxes, labels);
            var expectedAssign = train.GetProperty("assignment").EnumerateArray().ToList();
            for (int i = 0; i < expectedAssign.Count; i++)
            {
                var pos = nonzero(assigned[i].GtInds > 0).view(-1);
                checks.Same($"image {i}: positive priors", expectedAssign[i].GetProperty("pos_inds").EnumerateArray().Select(v => v.GetInt64()), pos.data<long>().ToArray());
                checks.Same($"image {i}: their GTs", expectedAssign[i].GetProperty("pos_gt").EnumerateArray().Select(v => v.GetInt64()),
                    (assigned[i].GtInds[pos] - 1).data<long>().ToArray());
                checks.Values($"image {i}: their IoUs", expectedAssign[i].GetProperty("pos_ious").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
                    assigned[i].MaxOverlaps[pos].data<float>().ToArray().Select(v => (double)v).ToArray(), Tolerance.Absolute(1e-5, 1e-4));
            }
            var losses = detector.ForwardTrain(img, metas, boxes, labels);
            var (_, log) = losses.Parse();
            var expected = train.GetProperty("log_vars").EnumerateObject().ToList();
            checks.Same("logged keys, in order", expected.Select(p => p.Name), log.Keys);
            checks.Values("log_vars", expected.Select(p => p.Value.GetDouble()).ToArray(),
                expected.Select(p => log.TryGetValue(p.Name, out var v) ? v : double.NaN).ToArray(), Loss, names: expected.Select(p => p.Name).ToList());
            foreach (var entry in train.GetProperty("raw_losses").EnumerateObject())
            {
                var items = losses.Items.Where(i => i.Key == entry.Name).ToList();
                checks.Values(entry.Name, [entry.Value.GetDouble()], [items.Count == 1 ? items[0].Values[0].item<float>() : double.NaN], Loss);
            }
            losses.DisposeAll();
        }
        Report(checks);
    }

    private void Report(ParityChecks checks)
    {
        foreach (var line in ParityTable.Lines(checks.Rows)) output.WriteLine(line);
        ParityAssert.AllPass(checks.Rows);
    }

    private static SingleStageDetector Load()
    {
        var detector = (SingleStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(Path.Combine(Dir, "yolox.model_config.py")));
        var report = CheckpointLoader.Load(detector, Path.Combine(Dir, "yolox.pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return detector;
    }

    private static JsonDocument Outputs() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "yolox.outputs.json")));
}
