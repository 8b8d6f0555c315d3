using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Evaluation;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Detectors;

/// <summary>Mask R-CNN X-101-32x4d (<c>mask_rcnn/mask_rcnn_x101_32x4d_fpn_1x_coco.py</c>): ResNeXt, grouped 3×3 convs.</summary>
public sealed class MaskRcnnX101ParityTests(MaskRcnnX101ParityTests.Run run) : TwoStageParityTests<MaskRcnnX101ParityTests.Run>(run)
{
    public sealed class Run() : TwoStageParityRun("mask_rcnn/mask_rcnn_x101_32x4d_fpn_1x_coco.py", "mask_rcnn_x101_32x4d.json");
}

/// <summary>Faster R-CNN RegNetX-3.2GF (<c>regnet/faster_rcnn_regnetx-3.2GF_fpn_1x_coco.py</c>).</summary>
public sealed class FasterRcnnRegNetParityTests(FasterRcnnRegNetParityTests.Run run) : TwoStageParityTests<FasterRcnnRegNetParityTests.Run>(run)
{
    public sealed class Run() : TwoStageParityRun("regnet/faster_rcnn_regnetx-3.2GF_fpn_1x_coco.py", "faster_rcnn_regnetx_3.2gf.json");
}

/// <summary>Mask R-CNN R-50 with DCNv2 in c3–c5 (<c>dcnv2/mask_rcnn_r50_fpn_mdconv_c3-c5_1x_coco.py</c>).</summary>
public sealed class MaskRcnnMdconvParityTests(MaskRcnnMdconvParityTests.Run run) : TwoStageParityTests<MaskRcnnMdconvParityTests.Run>(run)
{
    public sealed class Run() : TwoStageParityRun("dcnv2/mask_rcnn_r50_fpn_mdconv_c3-c5_1x_coco.py", "mask_rcnn_r50_mdconv_c3-c5.json");
}

/// <summary>Mask R-CNN HRNetV2p-W18 (<c>hrnet/mask_rcnn_hrnetv2p_w18_1x_coco.py</c>): HRNet and HRFPN.</summary>
public sealed class MaskRcnnHrnetParityTests(MaskRcnnHrnetParityTests.Run run) : TwoStageParityTests<MaskRcnnHrnetParityTests.Run>(run)
{
    public sealed class Run() : TwoStageParityRun("hrnet/mask_rcnn_hrnetv2p_w18_1x_coco.py", "mask_rcnn_hrnetv2p_w18.json");
}

/// <summary>
/// One test-mode run of a zoo two-stage detector with hashed weights on one balloon image, shared by a class's tests.
/// Built on first use so that a class whose tests are skipped (no <c>../shared</c>) builds nothing.
/// </summary>
public abstract class TwoStageParityRun(string config, string fixture) : IDisposable
{
    public const string Corpus = "mmdet-configs-2.28";
    public const string Balloon = "datasets/balloon/val";

    private readonly Lazy<Outputs> _outputs = new(() => Compute(config, fixture));

    public string Config { get; } = config;

    public Outputs Result => _outputs.Value;

    public void Dispose()
    {
        if (_outputs.IsValueCreated) _outputs.Value.Input.Dispose();
        GC.SuppressFinalize(this);
    }

    public sealed record Outputs(JsonElement Expected, Tensor Input, ImgMeta Meta, double[][] Features, float[] Proposals, DetectionResult Detections);

    private static Outputs Compute(string config, string fixture)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "two_stage", fixture)));
        var expected = doc.RootElement.Clone();
        var scale = expected.GetProperty("img_scale").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var cfg = DetSharp.Config.Config.FromFile(SharedData.FullPath(Corpus, config));
        cfg.MergeFromOptions(["model.test_cfg.rcnn.score_thr=0.0", $"data.test.pipeline.1.img_scale=({scale[0]},{scale[1]})"]);
        var model = cfg.Get<ConfigDict>("model").Clone();
        model.Remove("pretrained");
        ((ConfigDict)model["backbone"]!)["init_cfg"] = null;
        using var detector = (TwoStageDetector)ModelFixtures.Build(model);
        detector.eval();
        FillWeights(detector, expected.GetProperty("gain").GetDouble());

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        string image = SharedData.FullPath(Balloon, expected.GetProperty("image").GetString()!);
        using var sample = new DetSample { ImgInfo = new CocoImage(0, 0, 0, image) };
        using var processed = Inference.TestPipeline(cfg).Apply(sample, new Random(0)) ?? throw new InvalidOperationException("pipeline dropped the image");
        using var batch = DetCollate.Collate([Inference.SingleView(processed)], withGt: false);
        var feats = detector.ExtractFeat(batch.Img);
        var features = feats.Select(f => new[] { f.to_type(ScalarType.Float64).sum().item<double>(), f.abs().to_type(ScalarType.Float64).sum().item<double>() }).ToArray();
        var proposals = detector.SimpleTestRpn(feats, batch.ImgMetas)[0].contiguous().data<float>().ToArray();
        var detections = detector.SimpleTest(batch.Img, batch.ImgMetas, rescale: true)[0];
        return new Outputs(expected, batch.Img.clone().MoveToOuterDisposeScope(), batch.ImgMetas[0], features, proposals, detections);
    }

    /// <summary>
    /// <c>tools/oracle/two_stage.py</c>'s weights, with <see cref="SSDParityRun.Hashed"/>'s counter hash: conv and linear
    /// weights ±√(gain / fan_in), norm weights 1 ± 0.25, running variances 1.5 ± 0.5, biases and running means ±0.1;
    /// integer buffers untouched but counted.
    /// </summary>
    private static void FillWeights(nn.Module model, double gain)
    {
        using var noGrad = no_grad();
        ulong k = 0;
        foreach (var (key, value, _) in ModuleTools.StateDict(model))
        {
            var shape = value.shape;
            if (value.is_floating_point())
            {
                using var v = shape.Length is 2 or 4 ? SSDParityRun.Hashed(k, shape, Math.Sqrt(gain / shape.Skip(1).Aggregate(1L, (a, b) => a * b)))
                    : key.EndsWith("running_var", StringComparison.Ordinal) ? SSDParityRun.Hashed(k, shape, 0.5, 1.5)
                    : key.EndsWith(".weight", StringComparison.Ordinal) ? SSDParityRun.Hashed(k, shape, 0.25, 1)
                    : SSDParityRun.Hashed(k, shape, 0.1);
                value.copy_(v);
            }
            k++;
        }
    }
}

/// <summary>
/// A zoo two-stage detector against MMDetection 2.28.2 on a real balloon image through the config's test pipeline (at
/// a small img_scale to keep the run short): the input, the neck's maps, the RPN proposals and the final boxes and
/// scores (<c>score_thr</c> 0, so all 100 are kept). Weights are a counter hash both sides compute
/// (<c>tools/oracle/two_stage.py</c>, <c>tests/fixtures/mmdet-2.28/two_stage/README.md</c>), so no checkpoint is
/// stored. Tolerance 1e-4 relative (coordinates relative to at least 1 px).
/// </summary>
public abstract class TwoStageParityTests<TRun>(TRun run) : IClassFixture<TRun>
    where TRun : TwoStageParityRun
{
    private const double Rel = 1e-4;
    private readonly TRun _run = run;

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static bool Near(double expected, double actual, double floor = 1e-6) =>
        Math.Abs(expected - actual) <= Rel * Math.Max(Math.Abs(expected), floor);

    /// <summary>Whether a box row (x1, y1, x2, y2, score) at <paramref name="at"/> in <paramref name="actual"/> is the expected one.</summary>
    private static bool SameBox(double[] expected, float[] actual, int at) =>
        Near(expected[4], actual[at + 4]) && Enumerable.Range(0, 4).All(c => Near(expected[c], actual[at + c], 1.0));

    [SharedFact(TwoStageParityRun.Corpus, TwoStageParityRun.Balloon)]
    public void TestPipelineInput_MatchesMmdetection()
    {
        var r = _run.Result;
        var input = r.Expected.GetProperty("input");
        Assert.Equal(input.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), r.Input.shape);
        var imgShape = input.GetProperty("img_shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal((imgShape[0], imgShape[1]), r.Meta.ImgShape);
        Assert.Equal(Doubles(input.GetProperty("scale_factor")).Select(v => (float)v), r.Meta.ScaleFactor);
        double absSum = input.GetProperty("abs_sum").GetDouble();
        Assert.True(Near(absSum, r.Input.abs().to_type(ScalarType.Float64).sum().item<double>()), "input: abs sum");
        Assert.True(Math.Abs(input.GetProperty("sum").GetDouble() - r.Input.to_type(ScalarType.Float64).sum().item<double>()) <= Rel * absSum, "input: sum");
    }

    [SharedFact(TwoStageParityRun.Corpus, TwoStageParityRun.Balloon)]
    public void NeckFeatures_MatchMmdetection()
    {
        var r = _run.Result;
        var expected = r.Expected.GetProperty("features").EnumerateArray().ToList();
        Assert.Equal(expected.Count, r.Features.Length);
        for (int l = 0; l < expected.Count; l++)
        {
            double absSum = expected[l].GetProperty("abs_sum").GetDouble();
            Assert.True(Near(absSum, r.Features[l][1]), $"level {l}: abs sum {r.Features[l][1]:R}, MMDetection {absSum:R}");
            // A signed sum can cancel: hold it to the absolute sum's scale.
            Assert.True(Math.Abs(expected[l].GetProperty("sum").GetDouble() - r.Features[l][0]) <= Rel * absSum, $"level {l}: sum");
        }
    }

    [SharedFact(TwoStageParityRun.Corpus, TwoStageParityRun.Balloon)]
    public void RpnProposals_MatchMmdetection()
    {
        var r = _run.Result;
        Assert.Equal(r.Expected.GetProperty("proposal_count").GetInt32(), r.Proposals.Length / 5);
        var expected = r.Expected.GetProperty("proposals").EnumerateArray().Select(Doubles).ToList();
        for (int i = 0; i < expected.Count; i++)
        {
            // Near-tied scores may swap places: find the same proposal anywhere in the list.
            bool found = Enumerable.Range(0, r.Proposals.Length / 5).Any(j => SameBox(expected[i], r.Proposals, j * 5));
            Assert.True(found, $"proposal {i} [{string.Join(", ", expected[i])}] not found; DetSharp's {i}th: [{string.Join(", ", r.Proposals.Skip(i * 5).Take(5))}]");
        }
    }

    [SharedFact(TwoStageParityRun.Corpus, TwoStageParityRun.Balloon)]
    public void FinalBoxesAndScores_MatchMmdetection()
    {
        var r = _run.Result;
        var det = r.Expected.GetProperty("detections");
        var boxes = det.GetProperty("bboxes").EnumerateArray().Select(Doubles).ToList();
        var labels = det.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToList();
        var actual = r.Detections;
        Assert.Equal(boxes.Count, actual.Count);
        var rows = Enumerable.Range(0, actual.Count).SelectMany(j => actual.Bboxes.Skip(j * 4).Take(4).Append(actual.Scores[j])).ToArray();
        double cutoff = boxes.Min(b => b[4]);
        for (int i = 0; i < boxes.Count; i++)
        {
            bool found = Enumerable.Range(0, actual.Count).Any(j => actual.Labels[j] == labels[i] && SameBox(boxes[i], rows, j * 5));
            // Only a detection tied with the 100th may fall on the other side of the cut.
            Assert.True(found || boxes[i][4] - cutoff <= Rel * cutoff, $"detection {i} (label {labels[i]}, [{string.Join(", ", boxes[i])}]) not found");
        }
    }
}
