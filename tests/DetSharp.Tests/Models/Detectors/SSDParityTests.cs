using System.Text.Json;
using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Detectors;
using DetSharp.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Detectors;

/// <summary>SSD300 (<c>configs/ssd/ssd300_coco.py</c>: SSDVGG-16, L2Norm, 300×300) against MMDetection 2.28.2.</summary>
public sealed class Ssd300ParityTests(Ssd300ParityTests.Run run) : SSDParityTests<Ssd300ParityTests.Run>(run)
{
    public sealed class Run() : SSDParityRun("ssd/ssd300_coco.py", "ssd300_hashed.json", 300);
}

/// <summary>SSDLite (<c>configs/ssd/ssdlite_mobilenetv2_scratch_600e_coco.py</c>: MobileNetV2, depthwise neck and head, BN, ReLU6, 320×320).</summary>
public sealed class SsdliteParityTests(SsdliteParityTests.Run run) : SSDParityTests<SsdliteParityTests.Run>(run)
{
    public sealed class Run() : SSDParityRun("ssd/ssdlite_mobilenetv2_scratch_600e_coco.py", "ssdlite_hashed.json", 320);
}

/// <summary>One forward (eval mode) of a hashed SSD model on the hashed batch of two images, shared by a class's tests.</summary>
public abstract class SSDParityRun : IDisposable
{
    protected SSDParityRun(string config, string fixture, int size)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "ssd", fixture)));
        Expected = doc.RootElement.Clone();
        Size = size;
        var model = ModelFixtures.ModelConfig(ModelFixtures.RepoConfig(config)).Clone();
        ((ConfigDict)model["backbone"]!)["init_cfg"] = null;
        ((ConfigDict)model["test_cfg"]!)["score_thr"] = 0.0;
        Model = (SingleStageDetector)ModelFixtures.Build(model);
        Model.eval();
        FillWeights(Model);
        Metas = [ImgMeta.Unscaled(size, size), ImgMeta.Unscaled(size, size)];
        using var noGrad = no_grad();
        var img = Hashed(1000, [2, 3, size, size], 2.0);
        Feats = Model.ExtractFeat(img);
        Outs = Model.BboxHead.Forward(Feats);
        var gtBoxes = Expected.GetProperty("gt_bboxes").EnumerateArray()
            .Select(b => tensor(b.EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => (float)v.GetDouble())).ToArray()).reshape(-1, 4)).ToList();
        var gtLabels = Expected.GetProperty("gt_labels").EnumerateArray()
            .Select(l => tensor(l.EnumerateArray().Select(v => v.GetInt64()).ToArray())).ToList();
        Losses = Model.BboxHead.Loss(Outs, gtBoxes, gtLabels, Metas);
        Dets = Model.BboxHead.GetBboxes(Outs, Metas);
    }

    public JsonElement Expected { get; }

    /// <summary>Input height and width.</summary>
    public int Size { get; }

    public SingleStageDetector Model { get; }

    public List<ImgMeta> Metas { get; }

    public Tensor[] Feats { get; }

    public DenseHeadOutputs Outs { get; }

    public DetSharp.Engine.LossDict Losses { get; }

    public List<DenseDetections> Dets { get; }

    public void Dispose()
    {
        Model.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>splitmix64 of (k &lt;&lt; 32) + i, its top 53 bits as u in [0, 1); value (2u − 1)·bound + offset, as float32.</summary>
    internal static Tensor Hashed(ulong k, long[] shape, double bound, double offset = 0)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[n];
        for (long i = 0; i < n; i++)
        {
            ulong z = unchecked((k << 32) + (ulong)i + 0x9E3779B97F4A7C15UL);
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
            z ^= z >> 31;
            double u = (z >> 11) / 9007199254740992.0;
            values[i] = (float)(offset + (2 * u - 1) * bound);
        }
        return tensor(values).reshape(shape);
    }

    /// <summary>
    /// The fixture's weights: conv weights ±√(6 / fan_in), biases and running means ±0.1, the L2Norm weight 20 ± 10,
    /// BatchNorm weights 1 ± 0.25 and running variances 1.5 ± 0.5; integer buffers untouched but counted.
    /// </summary>
    private static void FillWeights(nn.Module model)
    {
        using var noGrad = no_grad();
        ulong k = 0;
        foreach (var (key, value, _) in ModuleTools.StateDict(model))
        {
            var shape = value.shape;
            if (value.is_floating_point())
            {
                var v = key.EndsWith("l2_norm.weight", StringComparison.Ordinal) ? Hashed(k, shape, 10, 20)
                    : key.EndsWith("bn.weight", StringComparison.Ordinal) ? Hashed(k, shape, 0.25, 1)
                    : key.EndsWith("running_var", StringComparison.Ordinal) ? Hashed(k, shape, 0.5, 1.5)
                    : shape.Length == 4 ? Hashed(k, shape, Math.Sqrt(6.0 / (shape[1] * shape[2] * shape[3])))
                    : Hashed(k, shape, 0.1);
                value.copy_(v);
            }
            k++;
        }
    }
}

/// <summary>
/// An SSD model against MMDetection 2.28.2: backbone and neck features, the head's logits and deltas, anchors, decoded
/// boxes, the training losses (hard negative mining) on a batch of two images and the final detections. Weights and
/// input are a counter hash both sides compute (<c>tools/oracle/ssd.py</c>, the fixture's README), so no checkpoint is
/// stored (SSD300's would be 100 MB). Tolerances: 1e-4 relative for values, 1e-3 px for boxes.
/// </summary>
public abstract class SSDParityTests<TRun>(TRun run) : IClassFixture<TRun>
    where TRun : SSDParityRun
{
    private readonly TRun _run = run;

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static void Close(double expected, double actual, double rel, string what) =>
        Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(Math.Abs(expected), 1e-6),
            $"{what}: expected {expected:R}, got {actual:R} (relative difference {Math.Abs(expected - actual) / Math.Max(Math.Abs(expected), 1e-6):E2}, allowed {rel:E0})");

    /// <summary>Shape, sum, absolute sum and sampled flat values of one output map.</summary>
    private static void SameMap(JsonElement expected, Tensor actual, string what)
    {
        Assert.Equal(expected.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()), actual.shape);
        var d = actual.to_type(ScalarType.Float64);
        double absSum = expected.GetProperty("abs_sum").GetDouble();
        // A signed sum can cancel: hold it to the absolute sum's scale.
        Assert.True(Math.Abs(expected.GetProperty("sum").GetDouble() - d.sum().item<double>()) <= 1e-4 * absSum, $"{what}: sum");
        Close(absSum, d.abs().sum().item<double>(), 1e-4, $"{what}: abs sum");
        var flat = actual.reshape(-1);
        var samples = expected.GetProperty("samples");
        var index = samples.GetProperty("index").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        var value = Doubles(samples.GetProperty("value"));
        double scale = absSum / actual.numel();
        for (int i = 0; i < index.Length; i++)
            Assert.True(Math.Abs(value[i] - flat[index[i]].item<float>()) <= 1e-4 * Math.Max(Math.Abs(value[i]), scale),
                $"{what}[{index[i]}]: expected {value[i]:R}, got {flat[index[i]].item<float>():R}");
    }

    [Fact]
    public void BackboneAndNeckFeatures_MatchMmdetection()
    {
        var expected = _run.Expected.GetProperty("features").EnumerateArray().ToList();
        Assert.Equal(expected.Count, _run.Feats.Length);
        for (int l = 0; l < expected.Count; l++) SameMap(expected[l], _run.Feats[l], $"feature {l}");
    }

    [Fact]
    public void HeadOutputs_MatchMmdetection()
    {
        var cls = _run.Expected.GetProperty("cls_scores").EnumerateArray().ToList();
        var reg = _run.Expected.GetProperty("bbox_preds").EnumerateArray().ToList();
        for (int l = 0; l < cls.Count; l++)
        {
            SameMap(cls[l], _run.Outs.ClsScores[l], $"cls_scores[{l}]");
            SameMap(reg[l], _run.Outs.BboxPreds[l], $"bbox_preds[{l}]");
        }
    }

    [Fact]
    public void Anchors_MatchMmdetection()
    {
        var gen = _run.Model.BboxHead is AnchorHead h ? h.AnchorGenerator : throw new InvalidOperationException();
        Assert.Equal(_run.Expected.GetProperty("num_base_anchors").EnumerateArray().Select(v => v.GetInt32()), gen.NumBaseAnchors);
        var baseAnchors = _run.Expected.GetProperty("base_anchors").EnumerateArray().ToList();
        for (int l = 0; l < baseAnchors.Count; l++)
        {
            var expected = baseAnchors[l].EnumerateArray().SelectMany(Doubles).ToArray();
            var actual = gen.BaseAnchors(l).reshape(-1).data<float>().ToArray();
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-3, $"base anchor {l}[{i}]: {expected[i]} vs {actual[i]}");
        }
        var sizes = _run.Outs.ClsScores.Select(c => (c.shape[2], c.shape[3])).ToList();
        var anchors = gen.GridPriors(sizes);
        var levels = _run.Expected.GetProperty("anchors").EnumerateArray().ToList();
        for (int l = 0; l < levels.Count; l++)
        {
            Assert.Equal(levels[l].GetProperty("count").GetInt64(), anchors[l].shape[0]);
            var first = levels[l].GetProperty("first").EnumerateArray().SelectMany(Doubles).ToArray();
            var actualFirst = anchors[l][..8].reshape(-1).data<float>().ToArray();
            for (int i = 0; i < first.Length; i++) Assert.True(Math.Abs(first[i] - actualFirst[i]) <= 1e-3, $"anchors level {l}[{i}]");
            var last = Doubles(levels[l].GetProperty("last"));
            var actualLast = anchors[l][-1].data<float>().ToArray();
            for (int i = 0; i < 4; i++) Assert.True(Math.Abs(last[i] - actualLast[i]) <= 1e-3, $"last anchor of level {l}");
            Close(levels[l].GetProperty("sum").GetDouble(), anchors[l].to_type(ScalarType.Float64).sum().item<double>(), 1e-6, $"anchor sum level {l}");
        }
    }

    [Fact]
    public void DecodedBoxes_MatchMmdetection()
    {
        var head = (AnchorHead)_run.Model.BboxHead;
        var anchors = cat(head.AnchorGenerator.GridPriors(_run.Outs.ClsScores.Select(c => (c.shape[2], c.shape[3])).ToList()), 0);
        var deltas = cat(_run.Outs.BboxPreds.Select(b => b[0].permute(1, 2, 0).reshape(-1, 4)).ToArray(), 0);
        var decoded = head.BboxCoder.Decode(anchors, deltas, (_run.Size, _run.Size));
        var expected = _run.Expected.GetProperty("decoded_image0");
        Assert.Equal(expected.GetProperty("count").GetInt64(), decoded.shape[0]);
        var samples = expected.GetProperty("samples");
        var index = samples.GetProperty("index").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        var value = Doubles(samples.GetProperty("value"));
        var flat = decoded.reshape(-1);
        for (int i = 0; i < index.Length; i++)
            Assert.True(Math.Abs(value[i] - flat[index[i]].item<float>()) <= 1e-3, $"decoded[{index[i]}]: {value[i]} vs {flat[index[i]].item<float>()}");
        Close(expected.GetProperty("sum").GetDouble(), decoded.to_type(ScalarType.Float64).sum().item<double>(), 1e-6, "decoded sum");
    }

    [Fact]
    public void TrainingLosses_MatchMmdetection()
    {
        foreach (var name in new[] { "loss_cls", "loss_bbox" })
        {
            var expected = Doubles(_run.Expected.GetProperty("losses").GetProperty(name));
            var actual = _run.Losses[name];
            Assert.Equal(expected.Length, actual.Count);
            for (int i = 0; i < expected.Length; i++) Close(expected[i], actual[i].item<float>(), 1e-4, $"{name}[{i}]");
        }
    }

    [Fact]
    public void Detections_MatchMmdetection()
    {
        var expected = _run.Expected.GetProperty("detections").EnumerateArray().ToList();
        for (int img = 0; img < expected.Count; img++)
        {
            var boxes = expected[img].GetProperty("bboxes").EnumerateArray().Select(Doubles).ToList();
            var labels = expected[img].GetProperty("labels").EnumerateArray().Select(v => v.GetInt64()).ToList();
            var dets = _run.Dets[img].Dets.data<float>().ToArray();
            var actualLabels = _run.Dets[img].Labels.data<long>().ToArray();
            Assert.Equal(boxes.Count, actualLabels.Length);
            double cutoff = boxes[^1][4];
            for (int i = 0; i < boxes.Count; i++)
            {
                // Near-tied scores may swap places: find the same detection anywhere in the list.
                bool found = Enumerable.Range(0, actualLabels.Length).Any(j => actualLabels[j] == labels[i]
                    && Math.Abs(dets[j * 5 + 4] - boxes[i][4]) <= 1e-4 * boxes[i][4]
                    && Enumerable.Range(0, 4).All(c => Math.Abs(dets[j * 5 + c] - boxes[i][c]) <= 1e-3));
                // Only a detection tied with the 200th may fall on the other side of the cut.
                Assert.True(found || boxes[i][4] - cutoff <= 1e-5, $"image {img}: detection {i} (label {labels[i]}, [{string.Join(", ", boxes[i])}]) not found");
            }
        }
    }
}
