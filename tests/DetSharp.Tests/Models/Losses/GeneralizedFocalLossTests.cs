using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>QualityFocalLoss and DistributionFocalLoss worked by hand (and confirmed with MMDetection 2.28.2).</summary>
public sealed class GeneralizedFocalLossTests
{
    [Fact]
    public void QualityFocalLoss_PushesNegativesToZeroAndThePositiveClassToItsScore()
    {
        // Logits (0, ln 3) → σ = (0.5, 0.75). Sample 0 is class 1 with quality 0.6: class 0 costs BCE(0→0)·0.5² =
        // ln2/4 = 0.173287, class 1 BCE(ln3→0.6)·|0.6 − 0.75|² = 0.727127·0.0225 = 0.016360; 0.189647 in all.
        // Sample 1, logits (ln 3, 0), is background (label 2 = C): ln4·0.75² + ln2/4 = 0.953078.
        var pred = tensor(new float[] { 0, MathF.Log(3), MathF.Log(3), 0 }, [2, 2]);
        var labels = tensor(new long[] { 1, 2 });
        var scores = tensor(new float[] { 0.6f, 0 });
        var qfl = new QualityFocalLoss();
        Assert.Equal((0.189647 + 0.953078) / 2, qfl.Forward(pred, labels, scores).item<float>(), 5);
        Assert.Equal(0.189647 / (1 + LossUtils.Eps), qfl.Forward(pred, labels, scores, tensor(new float[] { 1, 0 }), 1.0).item<float>(), 5);
        Assert.Equal(2 * (0.189647 + 0.953078), new QualityFocalLoss(reduction: "sum", lossWeight: 2).Forward(pred, labels, scores).item<float>(), 4);
        // activated=True takes probabilities: the same numbers from σ(pred).
        Assert.Equal((0.189647 + 0.953078) / 2, new QualityFocalLoss(activated: true).Forward(pred.sigmoid(), labels, scores).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => qfl.Forward(pred, labels));
    }

    [Fact]
    public void QualityFocalLoss_OfAPerfectPositive_IsOnlyItsNegativeClasses()
    {
        // σ(x) equal to the score: the positive's factor |score − σ(x)|^β is 0, so only class 0's ln2/4 remains.
        var pred = tensor(new float[] { 0, MathF.Log(3) }, [1, 2]);
        var loss = new QualityFocalLoss().Forward(pred, tensor(new long[] { 1 }), tensor(new float[] { 0.75f }));
        Assert.Equal(Math.Log(2) / 4, loss.item<float>(), 5);
    }

    [Fact]
    public void DistributionFocalLoss_WeighsTheTwoNeighbouringBins()
    {
        // Logits (0, ln2, 0) → softmax (0.25, 0.5, 0.25); y = 0.25 lies between bins 0 and 1:
        // −ln 0.25 · 0.75 − ln 0.5 · 0.25 = 1.213008.
        var pred = tensor(new float[] { 0, MathF.Log(2), 0 }, [1, 3]);
        var dfl = new DistributionFocalLoss();
        Assert.Equal(1.213008, dfl.Forward(pred, tensor(new float[] { 0.25f })).item<float>(), 5);
        // On a bin the loss is that bin's cross entropy alone; weights, avg_factor and loss_weight as weight_reduce_loss.
        Assert.Equal(Math.Log(2), dfl.Forward(pred, tensor(new float[] { 1f })).item<float>(), 5);
        var two = cat([pred, pred]);
        Assert.Equal(0.25 * 1.213008 / (4 + LossUtils.Eps),
            new DistributionFocalLoss(lossWeight: 0.25).Forward(two, tensor(new float[] { 0.25f, 1f }), tensor(new float[] { 1, 0 }), 4.0).item<float>(), 5);
    }
}
