using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.Parity;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.RoIHeads;
using DetSharp.Structures;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models;

/// <summary>
/// The slim Mask R-CNN and Cascade Mask R-CNN checkpoints of <c>fixtures/mmdet/parity</c> against MMDetection 2.25:
/// per balloon val image the network input, RPN proposals, per-stage RoIs/logits/deltas (and Cascade's refined RoIs),
/// final boxes, scores and masks; on 2 balloon train images the training losses.
/// </summary>
internal static class SlimModelParity
{
    public const string Family = "parity";
    public const string Dir = "fixtures/mmdet/parity/";

    public static IReadOnlyList<string> Models { get; } = ["mask_rcnn", "cascade_mask_rcnn"];

    public static TwoStageDetector LoadSlim(string name)
    {
        var model = (TwoStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(SharedData.FullPath(Dir + name + "_slim.model_config.py")));
        var report = CheckpointLoader.Load(model, SharedData.FullPath(Dir + name + "_slim.pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return model;
    }

    public static JsonDocument Outputs(string name) => SharedData.LoadJson(Dir + name + "_slim.outputs.json");

    /// <summary>The file names of the model's test records, in fixture order.</summary>
    public static IReadOnlyList<string> TestImages(string name)
    {
        using var fixture = Outputs(name);
        return fixture.RootElement.GetProperty("test").EnumerateArray().Select(r => r.GetProperty("file_name").GetString()!).ToList();
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[] Flat(JsonElement rows) => rows.EnumerateArray().SelectMany(Floats).ToArray();

    private static float[] Values(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    /// <summary>Loads the slim model and measures test record <paramref name="file"/> (a fixture of the parity table).</summary>
    public static IReadOnlyList<ParityRow> MeasureTest(string name, string file)
    {
        using var fixture = Outputs(name);
        using var model = LoadSlim(name);
        model.eval();
        var rec = fixture.RootElement.GetProperty("test").EnumerateArray().First(r => r.GetProperty("file_name").GetString() == file);
        return MeasureTest(model, name, rec);
    }

    /// <summary>
    /// One balloon val image through the test pipeline and <paramref name="model"/> (in eval mode). Tolerances: the
    /// input to 1e-4 relative per channel sum and 0.02 per sample (a grey level of JPEG decoding is 1/57), coordinates
    /// to 2e-3 px, logits and deltas to 1e-4. Scores of random weights are close together, so the detections are
    /// compared in order for the top 30 and as sets beyond (at most 3 may differ near the 100-detection cut-off).
    /// </summary>
    public static IReadOnlyList<ParityRow> MeasureTest(TwoStageDetector model, string name, JsonElement rec)
    {
        using var scope = NewDisposeScope();
        string file = rec.GetProperty("file_name").GetString()!;
        var checks = new ParityChecks(Family, $"{name}_slim test {file}");
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + file));
        var img = MmdetInput.Batch([(chw, meta)]);
        checks.Exact("input shapes, scale factor", new ExactFields()
            .Add("img_shape", Floats(rec.GetProperty("img_shape"))[..2], [meta.ImgShape.Height, meta.ImgShape.Width])
            .Add("pad_shape", Floats(rec.GetProperty("pad_shape"))[..2], [meta.PadShape.Height, meta.PadShape.Width])
            .Add("scale_factor", Floats(rec.GetProperty("scale_factor")), meta.ScaleFactor)
            .Add("input_shape", rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape));
        var sums = img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray();
        checks.Values("input channel sums", rec.GetProperty("input_channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray(), sums, Tolerance.Relative(1e-4, 1));
        var samples = rec.GetProperty("input_samples").EnumerateArray().Select(s => s.EnumerateArray().ToArray()).ToList();
        checks.Values("input samples", samples.Select(v => v[3].GetSingle()).ToArray(),
            samples.Select(v => img[0, v[0].GetInt32(), v[1].GetInt32(), v[2].GetInt32()].item<float>()).ToArray(), Tolerance.Absolute(2e-5 + 2e-2));

        using var noGrad = no_grad();
        var metas = new[] { meta };
        var x = model.ExtractFeat(img);
        var proposals = model.SimpleTestRpn(x, metas);
        checks.Values("RPN proposal count", [rec.GetProperty("num_proposals").GetDouble()], [(double)proposals[0].shape[0]], Tolerance.Exact);
        checks.Values("RPN proposals (first 50)", Flat(rec.GetProperty("proposals_first50")), Values(proposals[0][..50]), Tolerance.Absolute(2e-3, 1e-5));

        MeasureStages(checks, model, x, proposals, metas, rec.GetProperty("roi_stages"));
        MeasureResults(checks, model.SimpleTest(img, metas, rescale: true)[0], rec);
        return checks.Rows;
    }

    /// <summary>
    /// Each bbox-branch call on the first 20 RoIs; our own refined RoIs feed the next Cascade stage, as in MMDetection,
    /// so a deviation shows at the stage that introduces it.
    /// </summary>
    private static void MeasureStages(ParityChecks checks, TwoStageDetector model, Tensor[] x, List<Tensor> proposals, ImgMeta[] metas, JsonElement stages)
    {
        var rois = BoxTools.Bbox2Roi(proposals);
        Tensor? cls = null, reg = null;
        foreach (var st in stages.EnumerateArray())
        {
            int stage = st.GetProperty("stage").GetInt32();
            if (st.TryGetProperty("rois_first20", out var r20))
            {
                checks.Values($"stage {stage} RoIs (first 20)", Flat(r20), Values(rois[..20]), Tolerance.Absolute(2e-3, 1e-5));
                (cls, reg) = model.RoiHead switch
                {
                    StandardRoIHead s => LogitsAndDeltas(s.BboxForward(x, rois)),
                    CascadeRoIHead c => c.BboxForward(stage, x, rois),
                    _ => throw new InvalidOperationException($"unexpected RoI head {model.RoiHead.GetType().Name}"),
                };
                checks.Values($"stage {stage} cls_score (first 20)", Flat(st.GetProperty("cls_score_first20")), Values(cls[..20]), Tolerance.Absolute(1e-4, 1e-4));
                checks.Values($"stage {stage} bbox_pred (first 20)", Flat(st.GetProperty("bbox_pred_first20")), Values(reg[..20]), Tolerance.Absolute(1e-4, 1e-4));
            }
            else
            {
                var head = ((CascadeRoIHead)model.RoiHead).BboxHeads[stage];
                var labels = cls![.., ..^1].argmax(1);
                checks.Same($"stage {stage} labels (first 20)", st.GetProperty("labels_first20").EnumerateArray().Select(v => v.GetInt64()), labels[..20].data<long>().ToArray());
                rois = head.RegressByClass(rois, labels, reg!, metas[0]);
                checks.Values($"stage {stage} refined RoIs (first 20)", Flat(st.GetProperty("refined_rois_first20")), Values(rois[..20]), Tolerance.Absolute(2e-3, 1e-5));
            }
        }
    }

    private static (Tensor ClsScore, Tensor BboxPred) LogitsAndDeltas((Tensor ClsScore, Tensor BboxPred, Tensor BboxFeats) forward) =>
        (forward.ClsScore, forward.BboxPred);

    private static readonly Tolerance BoxTolerance = Tolerance.Absolute(0.02, 1e-5), ScoreTolerance = Tolerance.Absolute(2e-6, 1e-5);
    private const int InOrder = 30, AllowedUnmatched = 3;

    private static void MeasureResults(ParityChecks checks, DetectionResult result, JsonElement rec)
    {
        var expected = rec.GetProperty("bbox_results")[0].EnumerateArray().Select(Floats).ToArray();
        var segms = rec.GetProperty("segm_results")[0].EnumerateArray().ToArray();
        checks.Values("detection count", [expected.Length], [(double)result.Count], Tolerance.Exact);
        // The top of the list in order (scores of random weights are close: the first 30 are well separated).
        int top = Math.Min(Math.Min(InOrder, expected.Length), result.Count);
        checks.Values($"top {InOrder} boxes, in order", expected[..top].SelectMany(e => e[..4]).ToArray(), result.Bboxes[..(top * 4)], BoxTolerance);
        checks.Values($"top {InOrder} scores, in order", expected[..top].Select(e => e[4]).ToArray(), result.Scores[..top], ScoreTolerance);

        var matched = new bool[result.Count];
        var unmatched = new List<int>();
        var (shortfall, masks) = (new List<double>(), new List<string>());
        for (int i = 0; i < expected.Length; i++)
        {
            int j = i < top ? i : Enumerable.Range(0, result.Count).FirstOrDefault(k => !matched[k] && Near(expected[i], result, k), -1);
            if (j < 0 || !Near(expected[i], result, j))
            {
                if (i >= top) unmatched.Add(i);
                continue;
            }
            matched[j] = true;
            var seg = segms[i];
            var size = seg.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            var exp = Rle.FromCompressedString(seg.GetProperty("counts").GetString()!, size[0], size[1]);
            var got = result.Masks![j];
            double iou = 0;
            if (got.Height == size[0] && got.Width == size[1])
            {
                double inter = Rle.Merge([exp, got], intersect: true).Area();
                double union = Rle.Merge([exp, got]).Area();
                iou = union == 0 ? 1 : inter / union;
            }
            shortfall.Add(1 - iou);
            masks.Add($"mask of detection {i} (areas {exp.Area()} vs {got.Area()}, {got.Height}x{got.Width})");
        }
        checks.Count($"detections beyond the top {InOrder} without a match", unmatched.Count, AllowedUnmatched,
            unmatched.Count == 0 ? "all matched" : "unmatched expected detections: " + string.Join(", ", unmatched));
        // The masks of matched detections: IoU above 0.995, i.e. 1 − IoU within 0.005.
        checks.Values("mask 1 − IoU (matched detections)", new double[shortfall.Count], shortfall, Tolerance.Absolute(0.005), names: masks);
    }

    private static bool Near(float[] e, DetectionResult r, int k)
    {
        for (int c = 0; c < 4; c++)
            if (!BoxTolerance.Allows(Math.Abs(e[c] - r.Bboxes[k * 4 + c]), Math.Abs(e[c]))) return false;
        return ScoreTolerance.Allows(Math.Abs(e[4] - r.Scores[k]), e[4]);
    }

    /// <summary>
    /// The fixture's train batch through MMDetection's train pipeline as the test reconstructs it (resize keep-ratio to
    /// 1333×800 unless given, no flip, normalize, pad 32): padded images, metas, GT boxes in input coordinates, labels,
    /// bitmap masks.
    /// </summary>
    public static (Tensor Img, ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, IInstanceMasks[] Masks) BalloonTrainBatch(IEnumerable<string> fileNames,
        int longEdge = 1333, int shortEdge = 800)
    {
        using var ann = JsonDocument.Parse(File.ReadAllText(SharedData.FullPath("datasets/balloon/train/annotation_coco.json")));
        var images = ann.RootElement.GetProperty("images").EnumerateArray().ToList();
        var anns = ann.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        var inputs = new List<(float[], ImgMeta)>();
        var boxes = new List<Tensor>();
        var labels = new List<Tensor>();
        var masks = new List<IInstanceMasks>();
        foreach (var name in fileNames)
        {
            var info = images.First(i => i.GetProperty("file_name").GetString() == name);
            int id = info.GetProperty("id").GetInt32(), h = info.GetProperty("height").GetInt32(), w = info.GetProperty("width").GetInt32();
            var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/train/" + name), longEdge: longEdge, shortEdge: shortEdge);
            inputs.Add((chw, meta));
            var mine = anns.Where(a => a.GetProperty("image_id").GetInt32() == id && a.GetProperty("iscrowd").GetInt32() == 0).ToList();
            var b = new List<float>();
            var m = new List<byte[]>();
            foreach (var a in mine)
            {
                var bb = a.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                float[] box = [(float)bb[0], (float)bb[1], (float)(bb[0] + bb[2]), (float)(bb[1] + bb[3])];
                for (int c = 0; c < 4; c++)
                {
                    float v = box[c] * meta.ScaleFactor[c];
                    b.Add(Math.Clamp(v, 0, c % 2 == 0 ? meta.ImgShape.Width : meta.ImgShape.Height));
                }
                var rle = Rle.Merge(RleConvert.FrPyObjects(a.GetProperty("segmentation"), h, w).ToList());
                m.Add(rle.Decode());
            }
            boxes.Add(tensor(b.ToArray(), [mine.Count, 4]));
            labels.Add(zeros(mine.Count, ScalarType.Int64));
            masks.Add(new BitmapMasks(m.ToArray(), h, w).Resize(meta.ImgShape.Height, meta.ImgShape.Width).Pad(meta.PadShape.Height, meta.PadShape.Width));
        }
        return (MmdetInput.Batch(inputs), inputs.Select(i => i.Item2).ToArray(), boxes.ToArray(), labels.ToArray(), masks.ToArray());
    }

    /// <summary>
    /// One training forward of the slim model on the fixture's 2 balloon train images, with every sampler taking all
    /// candidates (num = 1e8) so that nothing random is drawn, as the fixture was made. Rows: the batch shape, the GT boxes
    /// after the pipeline (1e-4), every logged loss and accuracy and the per-FPN-level RPN losses (relative 1e-4), and
    /// the logged keys in MMDetection's order. Also returns the logged values.
    /// </summary>
    public static (IReadOnlyList<ParityRow> Rows, IReadOnlyDictionary<string, double> LogVars) MeasureTrain(string name)
    {
        using var fixture = Outputs(name);
        var train = fixture.RootElement.GetProperty("train");
        var checks = new ParityChecks(Family, $"{name}_slim train");
        var cfg = ModelFixtures.ModelConfig(SharedData.FullPath(Dir + name + "_slim.model_config.py"));
        cfg.Get<ConfigDict>("train_cfg.rpn.sampler")["num"] = 100000000L;
        switch (cfg.Get<object>("train_cfg.rcnn"))
        {
            case ConfigDict d: d.Get<ConfigDict>("sampler")["num"] = 100000000L; break;
            case IList<object?> list:
                foreach (var item in list) ((ConfigDict)item!).Get<ConfigDict>("sampler")["num"] = 100000000L;
                break;
        }
        using var model = (TwoStageDetector)ModelFixtures.Build(cfg);
        Assert.True(CheckpointLoader.Load(model, SharedData.FullPath(Dir + name + "_slim.pth"), strict: true).ExactMatch);
        model.train();

        using var scope = NewDisposeScope();
        var names = train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!).ToList();
        var (img, metas, boxes, labels, masks) = BalloonTrainBatch(names);
        checks.Exact("batch input shape, boxes per image", new ExactFields()
            .Add("batch_input_shape", train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()), img.shape)
            .Add("boxes per image", train.GetProperty("gt_bboxes").EnumerateArray().Select(b => (long)b.GetArrayLength()), boxes.Select(b => b.shape[0])));
        checks.Values("GT boxes after the pipeline", train.GetProperty("gt_bboxes").EnumerateArray().SelectMany(Flat).ToArray(),
            boxes.SelectMany(Values).ToArray(), Tolerance.Absolute(1e-4, 1e-4));

        var losses = model.ForwardTrain(img, metas, boxes, labels, masks);
        var (_, log) = losses.Parse();
        var expected = train.GetProperty("log_vars").EnumerateObject().ToList();
        checks.Same("logged keys, in order", expected.Select(p => p.Name), log.Keys);
        var lossTolerance = Tolerance.Relative(1e-4, 1e-12);
        checks.Values($"log_vars ({expected.Count} losses and accuracies)", expected.Select(p => p.Value.GetDouble()).ToArray(),
            expected.Select(p => log.TryGetValue(p.Name, out var v) ? v : double.NaN).ToArray(), lossTolerance, names: expected.Select(p => p.Name).ToList());
        var raw = losses.Items.ToDictionary(i => i.Key, i => i.Values);
        var (levelNames, expectedLevels, actualLevels) = (new List<string>(), new List<double>(), new List<double>());
        foreach (var key in new[] { "loss_rpn_cls", "loss_rpn_bbox" })
        {
            var e = train.GetProperty("raw_losses").GetProperty(key).EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var a = raw[key].Select(t => (double)t.item<float>()).ToArray();
            // A level count that differs shows as a missing (NaN) value.
            for (int l = 0; l < Math.Max(e.Length, a.Length); l++)
            {
                levelNames.Add($"{key}[P{l + 2}]");
                expectedLevels.Add(l < e.Length ? e[l] : double.NaN);
                actualLevels.Add(l < a.Length ? a[l] : double.NaN);
            }
        }
        checks.Values("RPN losses per FPN level", expectedLevels, actualLevels, lossTolerance, names: levelNames);
        losses.DisposeAll();
        return (checks.Rows, log);
    }
}
