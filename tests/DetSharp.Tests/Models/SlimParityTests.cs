using System.Text.Json;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.RoIHeads;
using DetSharp.Structures;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models;

/// <summary>
/// Inference parity with MMDetection 2.25 on the slim Mask R-CNN and Cascade Mask R-CNN checkpoints
/// (fixtures/mmdet/parity): network input, RPN proposals, per-stage RoI logits/deltas and refined RoIs, final
/// boxes/scores and masks for 3 balloon val images.
/// </summary>
public sealed class SlimParityTests(ITestOutputHelper output)
{
    private const string Dir = "fixtures/mmdet/parity/";

    internal static TwoStageDetector LoadSlim(string name)
    {
        var model = (TwoStageDetector)ModelFixtures.Build(ModelFixtures.ModelConfig(SharedFixtures.FullPath(Dir + name + "_slim.model_config.py")));
        var report = CheckpointLoader.Load(model, SharedFixtures.FullPath(Dir + name + "_slim.pth"), strict: true);
        Assert.True(report.IsExact, report.ToString());
        return model;
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[][] Rows(JsonElement e) => e.EnumerateArray().Select(Floats).ToArray();

    private static void AssertClose(float[][] expected, Tensor actual, double absTol, double relTol, string what)
    {
        var a = actual.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        int cols = expected[0].Length;
        for (int i = 0; i < expected.Length; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                double e = expected[i][j], v = a[i * cols + j];
                Assert.True(Math.Abs(e - v) <= absTol + relTol * Math.Abs(e), $"{what}[{i}][{j}]: expected {e}, got {v}");
            }
        }
    }

    [SharedFixtureTheory(Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void Inference_MatchesMmdet(string name)
    {
        using var fixture = SharedFixtures.LoadJson(Dir + name + "_slim.outputs.json");
        using var model = LoadSlim(name);
        model.eval();
        foreach (var rec in fixture.RootElement.GetProperty("test").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            string file = rec.GetProperty("file_name").GetString()!;
            var (chw, meta) = MmdetInput.Load(SharedFixtures.FullPath("datasets/balloon/val/" + file));
            Assert.Equal(Floats(rec.GetProperty("img_shape"))[..2], new float[] { meta.ImgShape.Height, meta.ImgShape.Width });
            Assert.Equal(Floats(rec.GetProperty("pad_shape"))[..2], new float[] { meta.PadShape.Height, meta.PadShape.Width });
            Assert.Equal(Floats(rec.GetProperty("scale_factor")), meta.ScaleFactor);
            var img = MmdetInput.Batch([(chw, meta)]);
            Assert.Equal(rec.GetProperty("input_shape").EnumerateArray().Select(v => v.GetInt64()).ToArray(), img.shape);
            var sums = img[0].to_type(ScalarType.Float64).sum([1, 2]).data<double>().ToArray();
            var expSums = rec.GetProperty("input_channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int c = 0; c < 3; c++)
                Assert.True(Math.Abs(sums[c] - expSums[c]) <= 1e-4 * Math.Abs(expSums[c]) + 1, $"channel {c} sum {sums[c]} vs {expSums[c]}");
            foreach (var s in rec.GetProperty("input_samples").EnumerateArray())
            {
                var v = s.EnumerateArray().ToArray();
                float got = img[0, v[0].GetInt32(), v[1].GetInt32(), v[2].GetInt32()].item<float>();
                Assert.True(Math.Abs(got - v[3].GetSingle()) < 2e-5 + 2e-2, $"input sample {s}: {got}");
            }

            using var noGrad = no_grad();
            var metas = new[] { meta };
            var x = model.ExtractFeat(img);
            var proposals = model.SimpleTestRpn(x, metas);
            int numProposals = rec.GetProperty("num_proposals").GetInt32();
            Assert.Equal(numProposals, (int)proposals[0].shape[0]);
            AssertClose(Rows(rec.GetProperty("proposals_first50")), proposals[0][..50], 2e-3, 1e-5, $"{file} proposals");

            CheckStages(model, x, proposals, metas, rec.GetProperty("roi_stages"), file);

            var results = model.SimpleTest(img, metas, rescale: true);
            CompareResults(results[0], rec, file);
        }
    }

    private static void CheckStages(TwoStageDetector model, Tensor[] x, List<Tensor> proposals, ImgMeta[] metas, JsonElement stages, string file)
    {
        var rois = BoxTools.Bbox2Roi(proposals);
        Tensor? cls = null, reg = null;
        foreach (var st in stages.EnumerateArray())
        {
            int stage = st.GetProperty("stage").GetInt32();
            if (st.TryGetProperty("rois_first20", out var r20))
            {
                AssertClose(Rows(r20), rois[..20], 2e-3, 1e-5, $"{file} stage {stage} rois");
                (cls, reg) = model.RoiHead switch
                {
                    StandardRoIHead s => (s.BboxForward(x, rois).ClsScore, s.BboxForward(x, rois).BboxPred),
                    CascadeRoIHead c => c.BboxForward(stage, x, rois),
                    _ => throw new InvalidOperationException(),
                };
                AssertClose(Rows(st.GetProperty("cls_score_first20")), cls[..20], 1e-4, 1e-4, $"{file} stage {stage} cls_score");
                AssertClose(Rows(st.GetProperty("bbox_pred_first20")), reg[..20], 1e-4, 1e-4, $"{file} stage {stage} bbox_pred");
            }
            else
            {
                var head = ((CascadeRoIHead)model.RoiHead).BboxHeads[stage];
                var labels = cls![.., ..^1].argmax(1);
                Assert.Equal(st.GetProperty("labels_first20").EnumerateArray().Select(v => v.GetInt64()).ToArray(), labels[..20].data<long>().ToArray());
                rois = head.RegressByClass(rois, labels, reg!, metas[0]);
                AssertClose(Rows(st.GetProperty("refined_rois_first20")), rois[..20], 2e-3, 1e-5, $"{file} stage {stage} refined rois");
            }
        }
    }

    private void CompareResults(DetectionResult result, JsonElement rec, string file)
    {
        var expected = Rows(rec.GetProperty("bbox_results")[0]);
        var segms = rec.GetProperty("segm_results")[0].EnumerateArray().ToArray();
        Assert.Equal(expected.Length, result.Count);
        // The top of the list in order (scores of random weights are close: the first 30 are well separated).
        int top = Math.Min(30, expected.Length);
        var matched = new bool[result.Count];
        int unmatched = 0;
        double minIou = 1;
        for (int i = 0; i < expected.Length; i++)
        {
            int j = -1;
            if (i < top) j = i;
            else
            {
                for (int k = 0; k < result.Count; k++)
                {
                    if (!matched[k] && Near(expected[i], result, k)) { j = k; break; }
                }
            }
            if (j < 0 || !Near(expected[i], result, j))
            {
                Assert.True(i >= top, $"{file}: detection {i} differs: expected [{string.Join(", ", expected[i])}], got [{string.Join(", ", result.Bboxes.AsSpan(j * 4, 4).ToArray())}, {result.Scores[j]}]");
                unmatched++;
                continue;
            }
            matched[j] = true;
            var seg = segms[i];
            var size = seg.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            var exp = Rle.FromCompressedString(seg.GetProperty("counts").GetString()!, size[0], size[1]);
            var got = result.Masks![j];
            Assert.Equal(size[0], got.Height);
            Assert.Equal(size[1], got.Width);
            double inter = Rle.Merge([exp, got], intersect: true).Area();
            double union = Rle.Merge([exp, got]).Area();
            double iou = union == 0 ? 1 : inter / union;
            minIou = Math.Min(minIou, iou);
            Assert.True(iou > 0.995, $"{file}: mask {i} IoU {iou} (areas {exp.Area()} vs {got.Area()})");
        }
        output.WriteLine($"{file}: {expected.Length - unmatched}/{expected.Length} detections matched, min mask IoU {minIou:F5}");
        Assert.True(unmatched <= 3, $"{file}: {unmatched} detections near the cut-off differ");
    }

    private static bool Near(float[] e, DetectionResult r, int k)
    {
        for (int c = 0; c < 4; c++)
            if (Math.Abs(e[c] - r.Bboxes[k * 4 + c]) > 0.02 + 1e-5 * Math.Abs(e[c])) return false;
        return Math.Abs(e[4] - r.Scores[k]) <= 2e-6 + 1e-5 * e[4];
    }
}
