using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

public class NmsTests
{
    /// <summary>
    /// On mmcv's NMS fixture, dets are the kept boxes with their scores, and exact score ties keep the higher index first.
    /// (The kept indices themselves are compared with mmcv's once, in the parity suite: family "ops", nms.)
    /// </summary>
    [SharedFact(MmcvOpsFixture.Path)]
    public void DetsAreTheKeptBoxesAndScoreTiesKeepTheHigherIndexFirst()
    {
        using var scope = NewDisposeScope();
        var (boxes, scores, thr, _) = MmcvOpsFixture.NmsInputs();

        var (dets, keep) = Nms.nms(boxes, scores, thr);

        Assert.Equal(52, keep.shape[0]);
        Assert.Equal(new long[] { 52, 5 }, dets.shape);
        Assert.Equal(boxes.index_select(0, keep).data<float>().ToArray(), dets[.., ..4].contiguous().data<float>().ToArray());
        Assert.Equal(scores.index_select(0, keep).data<float>().ToArray(), dets[.., 4].contiguous().data<float>().ToArray());
        var kept = keep.data<long>().ToArray();
        Assert.True(Array.IndexOf(kept, 30L) < Array.IndexOf(kept, 20L), "among equal scores the higher index comes first");
        Assert.DoesNotContain(10L, kept);
        Assert.DoesNotContain(11L, kept);
    }

    [SharedFact(MmcvOpsFixture.Path)]
    public void BatchedNmsWithOneClassEqualsNmsAndSplitBranchAgrees()
    {
        using var scope = NewDisposeScope();
        var (boxes, scores, thr, expected) = MmcvOpsFixture.NmsInputs();
        var idxs = zeros(boxes.shape[0], ScalarType.Int64);

        var (dets, keep) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(thr));
        Assert.Equal(expected, keep.data<long>().ToArray());
        Assert.Equal(dets[.., 4].contiguous().data<float>().ToArray(), scores.index_select(0, keep).data<float>().ToArray());

        var (_, keepSplit) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(thr, SplitThreshold: 10));
        Assert.Equal(expected, keepSplit.data<long>().ToArray());
    }

    [Fact]
    public void BatchedNmsSuppressesOnlyWithinAClass()
    {
        using var scope = NewDisposeScope();
        var boxes = tensor(new float[,] { { 0, 0, 10, 10 }, { 1, 1, 10, 10 }, { 0, 0, 10, 10 }, { 50, 50, 60, 60 } });
        var scores = tensor(new float[] { 0.9f, 0.8f, 0.7f, 0.6f });
        var idxs = tensor(new long[] { 0, 0, 1, 1 });
        foreach (var split in new[] { 10000, 1 })
        {
            var (dets, keep) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(0.5, SplitThreshold: split));
            Assert.Equal(new long[] { 0, 2, 3 }, keep.data<long>().ToArray());
            Assert.Equal(new float[] { 0.9f, 0.7f, 0.6f }, dets[.., 4].contiguous().data<float>().ToArray());
            Assert.Equal(new float[] { 0, 0, 10, 10 }, dets[1, ..4].contiguous().data<float>().ToArray());
        }

        var (_, agnostic) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(0.5), classAgnostic: true);
        Assert.Equal(new long[] { 0, 3 }, agnostic.data<long>().ToArray());
        var (_, viaCfg) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(0.5, ClassAgnostic: true));
        Assert.Equal(new long[] { 0, 3 }, viaCfg.data<long>().ToArray());
        var (_, sorted) = Nms.BatchedNms(boxes, tensor(new float[] { 0.1f, 0.8f, 0.8f, 0.9f }), idxs, null);
        Assert.Equal(new long[] { 3, 2, 1, 0 }, sorted.data<long>().ToArray());
        var (_, capped) = Nms.BatchedNms(boxes, scores, idxs, new NmsConfig(0.5, SplitThreshold: 1, MaxNum: 2));
        Assert.Equal(new long[] { 0, 2 }, capped.data<long>().ToArray());
    }

    [Fact]
    public void NmsHonoursScoreThresholdMaxNumAndOffset()
    {
        using var scope = NewDisposeScope();
        var boxes = tensor(new float[,] { { 0, 0, 10, 10 }, { 20, 20, 30, 30 }, { 40, 40, 50, 50 }, { 0, 0, 9, 9 } });
        var scores = tensor(new float[] { 0.2f, 0.9f, 0.5f, 0.3f });
        Assert.Equal(new long[] { 1, 2, 3, 0 }, Nms.NmsIndices(boxes, scores, 0.9).data<long>().ToArray());
        Assert.Equal(new long[] { 1, 2, 3 }, Nms.NmsIndices(boxes, scores, 0.5).data<long>().ToArray());
        Assert.Equal(new long[] { 1, 2, 3 }, Nms.NmsIndices(boxes, scores, 0.9, scoreThreshold: 0.25).data<long>().ToArray());
        Assert.Equal(new long[] { 1, 2 }, Nms.NmsIndices(boxes, scores, 0.9, maxNum: 2).data<long>().ToArray());
        // IoU of boxes 3 and 0 is 81/100 without offset, 100/121 with offset 1.
        Assert.Equal(new long[] { 1, 2, 3 }, Nms.NmsIndices(boxes, scores, 0.82, offset: 1).data<long>().ToArray());
        Assert.Equal(new long[] { 1, 2, 3, 0 }, Nms.NmsIndices(boxes, scores, 0.82).data<long>().ToArray());
        Assert.Equal(0, Nms.NmsIndices(zeros(0, 4), zeros(0), 0.5).shape[0]);
    }

    [Fact]
    public void SimdPathEqualsScalarReference()
    {
        // Many boxes, so the vector loop runs; compare with a straightforward greedy loop.
        var rng = new Random(4);
        int n = 777;
        var b = new float[n * 4];
        var s = new float[n];
        for (int i = 0; i < n; i++)
        {
            float x = (float)rng.NextDouble() * 100, y = (float)rng.NextDouble() * 100;
            float w = (float)rng.NextDouble() * 50 + 1, h = (float)rng.NextDouble() * 50 + 1;
            b[i * 4] = x;
            b[i * 4 + 1] = y;
            b[i * 4 + 2] = x + w;
            b[i * 4 + 3] = y + h;
            s[i] = (float)Math.Round(rng.NextDouble(), 2);
        }

        var order = Enumerable.Range(0, n).OrderByDescending(i => s[i]).ThenByDescending(i => i).ToArray();
        var dead = new bool[n];
        var expected = new List<int>();
        foreach (var i in order)
        {
            if (dead[i])
            {
                continue;
            }

            expected.Add(i);
            float ai = (b[i * 4 + 2] - b[i * 4]) * (b[i * 4 + 3] - b[i * 4 + 1]);
            foreach (var j in order)
            {
                float aj = (b[j * 4 + 2] - b[j * 4]) * (b[j * 4 + 3] - b[j * 4 + 1]);
                float w = MathF.Max(0, MathF.Min(b[i * 4 + 2], b[j * 4 + 2]) - MathF.Max(b[i * 4], b[j * 4]));
                float h = MathF.Max(0, MathF.Min(b[i * 4 + 3], b[j * 4 + 3]) - MathF.Max(b[i * 4 + 1], b[j * 4 + 1]));
                if (j != i && w * h / (ai + aj - w * h) > 0.3f)
                {
                    dead[j] = true;
                }
            }
        }

        Assert.Equal(expected.ToArray(), NmsKernel.Run(b, s, 0.3f));
    }

    [Fact]
    public void MulticlassNmsAsMmdet()
    {
        using var scope = NewDisposeScope();
        // 3 boxes, 2 classes + background.
        var bboxes = tensor(new float[,] { { 0, 0, 10, 10 }, { 1, 1, 10, 10 }, { 30, 30, 40, 40 } });
        var scores = tensor(new float[,] { { 0.9f, 0.05f, 0.05f }, { 0.8f, 0.6f, 0.1f }, { 0.02f, 0.7f, 0.3f } });
        var r = Nms.MulticlassNms(bboxes, scores, 0.05, new NmsConfig(0.5), maxNum: 100, returnInds: true);
        // Candidates (flattened box*2+class) above 0.05: 0 (0.9), 2 (0.8), 3 (0.6), 5 (0.7); 2 is suppressed by 0.
        Assert.Equal(new long[] { 0, 5, 3 }, r.Inds!.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 1 }, r.Labels.data<long>().ToArray());
        Assert.Equal(new float[] { 0.9f, 0.7f, 0.6f }, r.Dets[.., 4].contiguous().data<float>().ToArray());

        // Per-class boxes [N, C*4], score factors and max_num.
        var perClass = cat(new[] { bboxes, bboxes + 100 }, 1);
        var r2 = Nms.MulticlassNms(perClass, scores, 0.05, new NmsConfig(0.5), maxNum: 2, scoreFactors: tensor(new float[] { 1f, 0.5f, 1f }), returnInds: true);
        Assert.Equal(new long[] { 0, 5 }, r2.Inds!.data<long>().ToArray());
        Assert.Equal(new float[] { 130, 130, 140, 140, 0.7f }, r2.Dets[1].contiguous().data<float>().ToArray());

        var empty = Nms.MulticlassNms(bboxes, scores, 0.95, new NmsConfig(0.5));
        Assert.Equal(new long[] { 0, 5 }, empty.Dets.shape);
        Assert.Null(empty.Inds);
    }

    [Fact]
    public void NmsConfigFromDictionary()
    {
        var cfg = NmsConfig.FromDictionary(new Dictionary<string, object?> { ["type"] = "nms", ["iou_threshold"] = 0.7, ["split_thr"] = 5 });
        Assert.Equal(new NmsConfig(0.7, SplitThreshold: 5), cfg);
        var ex = Assert.Throws<ArgumentException>(() => NmsConfig.FromDictionary(new Dictionary<string, object?> { ["iou"] = 0.7 }));
        Assert.Contains("'iou'", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Nms.BatchedNms(zeros(1, 4), zeros(1), zeros(1, ScalarType.Int64), new NmsConfig(0.5, Type: "nms_rotated")));
        Assert.Contains("'nms_rotated'", ex.Message);
    }
}
