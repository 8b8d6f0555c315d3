using DetSharp.Models.Losses;
using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>PISA's isr_p and carl_loss worked out by hand on two positives.</summary>
public sealed class PisaLossTests
{
    [Fact]
    public void IsrP_RanksPositivesByIoU_AndKeepsTheirClassificationLossSum()
    {
        // 2 classes (+ background 2); positives 0 and 1 of class 0 and the same GT, one negative. The coder
        // (means 0, stds 1) decodes target deltas 0 to the RoI itself; positive 0 predicts it exactly (IoU 1),
        // positive 1 with dx = 0.1 (shift 1 on a 10-wide box: IoU 9/11), so positive 0 ranks first.
        var coder = new DeltaXYWHBBoxCoder(targetMeans: [0, 0, 0, 0], targetStds: [1, 1, 1, 1]);
        var rois = tensor(new float[] { 0, 0, 0, 10, 10, 0, 0, 0, 10, 10, 0, 20, 20, 30, 30 }).view(3, 5);
        var bboxPred = tensor(new float[] { 0, 0, 0, 0, 0.1f, 0, 0, 0, 0, 0, 0, 0 }).view(3, 4);
        var targets = new PisaTargets(tensor(new long[] { 0, 0, 2 }), ones(3), zeros(3, 4), ones(3, 4));
        var ce = new CrossEntropyLoss();
        var result = PisaLoss.IsrP(zeros(3, 3), bboxPred, targets, rois, [tensor(new long[] { 0, 0 })], ce, coder, k: 2, bias: 0, numClass: 2);
        // max count per class 2: class-level ranks 0, 1 -> (2 − rank)/2 = 1, 0.5 -> ^2 = 1, 0.25; equal CE (log 3) per
        // positive, so the ratio (1 + 1)/(1 + 0.25) = 1.6 gives 1.6 and 0.4; the negative keeps 1
        Assert.Equal(new[] { 1.6f, 0.4f, 1f }, result.LabelWeights.data<float>().ToArray().Select(v => MathF.Round(v, 5)).ToArray());
        Assert.Same(targets.Labels, result.Labels);
    }

    [Fact]
    public void CarlLoss_WeightsEachPositivesRegressionByItsScore()
    {
        // sigmoid scores 0.5 (logit 0) and 0.8808 (logit 2) of the label; k 1, bias 0.2: weights 0.6 and 0.2 + 0.8·0.8808,
        // rescaled to sum to 2; L1 losses per positive 0.4 and 0.2 (one coordinate each), ÷ avg_factor 2
        var cls = tensor(new float[] { 0, -5, 2, -5, -5, -5 }).view(3, 2);
        var labels = tensor(new long[] { 0, 0, 2 });
        var pred = tensor(new float[] { 0.4f, 0, 0, 0, 0, 0.2f, 0, 0, 9, 9, 9, 9 }).view(3, 4);
        double s1 = 1 / (1 + Math.Exp(-2)), w0 = 0.6, w1 = 0.2 + 0.8 * s1, norm = 2 / (w0 + w1);
        var loss = PisaLoss.CarlLoss(cls, labels, pred, zeros(3, 4), new L1Loss(), k: 1, bias: 0.2, avgFactor: 2, sigmoid: true, numClass: 2);
        Assert.Equal((w0 * norm * 0.4 + w1 * norm * 0.2) / 2, loss.item<float>(), 5);
        // no positives: zero, still in the graph
        var none = PisaLoss.CarlLoss(cls.requires_grad_(), tensor(new long[] { 2, 2, 2 }), pred, zeros(3, 4), new L1Loss(), numClass: 2);
        Assert.Equal(0f, none.item<float>());
        Assert.True(none.requires_grad);
    }
}
