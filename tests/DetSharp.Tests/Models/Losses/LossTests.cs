using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>Loss values worked out from MMDetection's definitions.</summary>
public sealed class LossTests
{
    [Fact]
    public void SmoothL1AndL1_WeightAvgFactorAndLossWeight()
    {
        var pred = tensor(new float[] { 0.5f, 2f, 0f, 0f });
        var target = zeros(4);
        // beta 1: 0.5*0.25 = 0.125 and 2 - 0.5 = 1.5
        Assert.Equal(1.625f / 4, new SmoothL1Loss().Forward(pred, target).item<float>(), 5);
        var w = tensor(new float[] { 1, 1, 0, 0 });
        Assert.Equal(2 * 1.625 / (2 + LossUtils.Eps), new SmoothL1Loss(lossWeight: 2).Forward(pred, target, w, avgFactor: 2).item<float>(), 5);
        Assert.Equal(2.5f, new L1Loss(reduction: "sum").Forward(pred, target).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => new L1Loss(reduction: "sum").Forward(pred, target, avgFactor: 2));
    }

    [Fact]
    public void CrossEntropy_SoftmaxSigmoidAndMask()
    {
        var logits = tensor(new float[] { 2, 0, 0, 0, 1, 0 }, [2, 3]);
        var labels = tensor(new long[] { 0, 2 });
        double l0 = -Math.Log(Math.Exp(2) / (Math.Exp(2) + 2)), l1 = -Math.Log(1 / (Math.E + 2));
        Assert.Equal((l0 + l1) / 2, new CrossEntropyLoss().Forward(logits, labels).item<float>(), 5);
        // sigmoid with index labels: label 1 on 1 channel is background (all-zero row)
        var s = tensor(new float[] { 0.3f, -0.2f }, [2, 1]);
        var sl = tensor(new long[] { 0, 1 });
        double e = (Math.Log(1 + Math.Exp(-0.3)) + Math.Log(1 + Math.Exp(-0.2))) / (2 + LossUtils.Eps);
        Assert.Equal(e, new CrossEntropyLoss(useSigmoid: true).Forward(s, sl, ones(2), avgFactor: 2).item<float>(), 5);
        // mask: the label's channel, mean over pixels
        var mp = zeros(1, 2, 2, 2);
        var mt = ones(1, 2, 2);
        Assert.Equal(Math.Log(2), new CrossEntropyLoss(useMask: true).ForwardMask(mp, mt, tensor(new long[] { 1 })).item<float>(), 5);
        // class weights scale the softmax loss per target class
        var weighted = new CrossEntropyLoss(classWeight: [2, 1, 1], reduction: "none").Forward(logits, labels);
        Assert.Equal(2 * l0, weighted[0].item<float>(), 5);
    }

    [Fact]
    public void FocalAndGIoU()
    {
        // focal, gamma 2, alpha 0.25, logit 0 (p = 0.5): BCE log 2 times alpha/(1-alpha) times 0.25
        var f = new FocalLoss(reduction: "none").Forward(zeros(1, 2), tensor(new long[] { 0 }));
        Assert.Equal(Math.Log(2) * 0.25 * 0.25, f[0, 0].item<float>(), 5);
        Assert.Equal(Math.Log(2) * 0.75 * 0.25, f[0, 1].item<float>(), 5);
        // GIoU of [0,0,2,2] and [1,1,3,3]: IoU 1/7, enclosing 9, union 7 -> 1/7 - 2/9
        var g = new GIoULoss().Forward(tensor(new float[] { 0, 0, 2, 2 }, [1, 4]), tensor(new float[] { 1, 1, 3, 3 }, [1, 4]));
        Assert.Equal(1 - (1.0 / 7 - 2.0 / 9), g.item<float>(), 4);
    }
}
