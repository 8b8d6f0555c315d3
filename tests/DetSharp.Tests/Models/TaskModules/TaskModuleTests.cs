using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>Anchors, box coding and assignment against values worked out by hand from MMDetection's formulas.</summary>
public sealed class TaskModuleTests
{
    private static float[] F(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void AnchorGenerator_BaseAnchorsGridAndValidFlags()
    {
        var gen = new AnchorGenerator([4L, 8L], [0.5, 1.0, 2.0], scales: [8.0]);
        // stride 4, scale 8: area 32², h/w = ratio, centred at 0.
        float a = 32 * MathF.Sqrt(2) / 2, b = 32 / MathF.Sqrt(2) / 2;
        var expected = new[] { -a, -b, a, b, -16, -16, 16, 16, -b, -a, b, a };
        var got = F(gen.BaseAnchors(0));
        for (int i = 0; i < 12; i++) Assert.Equal(expected[i], got[i], 4);
        var grid = gen.GridPriors([(2L, 3L), (1L, 2L)]);
        Assert.Equal(new long[] { 18, 4 }, grid[0].shape);
        // second location (y=0, x=1) is shifted by the stride in x
        Assert.Equal(expected[4] + 4, F(grid[0][4])[0], 4);
        // first location of the second row: shifted in y
        Assert.Equal(expected[5] + 4, F(grid[0][9 + 1])[1], 4);
        var flags = gen.ValidFlags([(3L, 3L)], (5, 7));
        var v = flags[0].data<bool>().ToArray();
        // valid rows/cols = ceil(5/4)=2, ceil(7/4)=2
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++)
                for (int k = 0; k < 3; k++)
                    Assert.Equal(y < 2 && x < 2, v[(y * 3 + x) * 3 + k]);
    }

    [Fact]
    public void DeltaXYWHBBoxCoder_EncodeDecodeClampAndClip()
    {
        var coder = new DeltaXYWHBBoxCoder([0, 0, 0, 0], [0.1, 0.1, 0.2, 0.2]);
        var p = tensor(new float[] { 0, 0, 10, 10 }, [1, 4]);
        var g = tensor(new float[] { 1, 2, 11, 14 }, [1, 4]);
        var d = F(coder.Encode(p, g));
        Assert.Equal(1f, d[0], 5);
        Assert.Equal(3f, d[1], 5);
        Assert.Equal(0f, d[2], 5);
        Assert.Equal((float)(Math.Log(1.2) / 0.2), d[3], 5);
        Assert.Equal(new float[] { 1, 2, 11, 14 }, F(coder.Decode(p, tensor(d, [1, 4]))).Select(v => MathF.Round(v, 4)).ToArray());
        // clipped to the image (h=12, w=10)
        Assert.Equal(new float[] { 1, 2, 10, 12 }, F(coder.Decode(p, tensor(d, [1, 4]), (12, 10))).Select(v => MathF.Round(v, 4)).ToArray());
        // dw clamped to |log(16/1000)|: a huge delta gives width 10 * 1000/16 = 625
        var big = F(coder.Decode(p, tensor(new float[] { 0, 0, 100, 0 }, [1, 4])));
        Assert.Equal(625f, big[2] - big[0], 2);
    }

    [Fact]
    public void MaxIoUAssigner_PositivesNegativesIgnoredAndLowQuality()
    {
        var gt = tensor(new float[] { 0, 0, 10, 10, 20, 20, 30, 30 }, [2, 4]);
        var boxes = tensor(new float[]
        {
            0, 0, 10, 10,    // IoU 1 with gt0 -> 1
            0, 0, 10, 5,     // IoU 0.5 with gt0 -> between thresholds -> -1
            50, 50, 60, 60,  // IoU 0 -> negative 0
            20, 20, 26, 26,  // IoU 0.36 with gt1, gt1's best -> low-quality match 2
        }, [4, 4]);
        var assigner = new MaxIoUAssigner(0.7, 0.3, minPosIou: 0.3);
        var r = assigner.Assign(boxes, gt, gtLabels: tensor(new long[] { 5, 7 }));
        Assert.Equal(new long[] { 1, -1, 0, 2 }, r.GtInds.data<long>().ToArray());
        Assert.Equal(new long[] { 5, -1, -1, 7 }, r.Labels!.data<long>().ToArray());
        var noLow = new MaxIoUAssigner(0.7, 0.3, minPosIou: 0.3, matchLowQuality: false).Assign(boxes, gt);
        Assert.Equal(new long[] { 1, -1, 0, -1 }, noLow.GtInds.data<long>().ToArray());
        // ignore region: the negative box lies inside an ignored GT box
        var ign = new MaxIoUAssigner(0.7, 0.3, ignoreIofThr: 0.5).Assign(boxes, gt, tensor(new float[] { 45, 45, 65, 65 }, [1, 4]));
        Assert.Equal(-1L, ign.GtInds[2].item<long>());
    }

    [Fact]
    public void RandomSampler_AddsGtAndBoundsNegatives()
    {
        manual_seed(0);
        var gt = tensor(new float[] { 0, 0, 10, 10 }, [1, 4]);
        var boxes = tensor(new float[] { 0, 0, 10, 10, 50, 50, 60, 60, 70, 70, 80, 80, 90, 90, 99, 99 }, [4, 4]);
        var assign = new MaxIoUAssigner(0.5, 0.5).Assign(boxes, gt, gtLabels: tensor(new long[] { 3 }));
        var s = new RandomSampler(num: 8, posFraction: 0.25, negPosUb: 1, addGtAsProposals: true).Sample(assign, boxes, gt, tensor(new long[] { 3 }));
        // the GT itself is prepended as a positive: positives are indices 0 (gt) and 1 (box 0)
        Assert.Equal(new long[] { 0, 1 }, s.PosInds.data<long>().ToArray());
        Assert.Equal(new byte[] { 1, 0 }, s.PosIsGt.data<byte>().ToArray());
        Assert.Equal(new long[] { 3, 3 }, s.PosGtLabels!.data<long>().ToArray());
        // neg_pos_ub = 1: at most as many negatives as positives
        Assert.Equal(2, s.NegInds.numel());
    }
}
