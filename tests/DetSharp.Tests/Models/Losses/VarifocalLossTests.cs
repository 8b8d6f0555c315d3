using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>VarifocalLoss worked by hand.</summary>
public sealed class VarifocalLossTests
{
    // Logits (0, ln 3) → σ = (0.5, 0.75); targets (0.6, 0). Element 0 is positive: BCE(0 → 0.6) = ln 2, weighted by its
    // target 0.6 (iou_weighted) = 0.415888, or 1. Element 1 is negative: BCE(ln 3 → 0) = ln 4, weighted α·|0.75 − 0|² =
    // 0.75·0.5625 = 0.421875 → 0.584843.
    private static readonly Tensor Pred = tensor(new float[] { 0, MathF.Log(3) }, [1, 2]);
    private static readonly Tensor Target = tensor(new float[] { 0.6f, 0 }, [1, 2]);

    [Fact]
    public void Positives_are_weighted_by_their_iou_and_negatives_focally()
    {
        var vfl = new VarifocalLoss();
        Assert.Equal((0.415888 + 0.584843) / 2, vfl.Forward(Pred, Target).item<float>(), 5);
        Assert.Equal((0.693147 + 0.584843) / 2, new VarifocalLoss(iouWeighted: false).Forward(Pred, Target).item<float>(), 5);
        // avg_factor, element weights and loss_weight as weight_reduce_loss.
        Assert.Equal(2 * 0.584843 / (4 + LossUtils.Eps),
            new VarifocalLoss(lossWeight: 2).Forward(Pred, Target, tensor(new float[] { 0, 1 }, [1, 2]), 4.0).item<float>(), 5);
        Assert.Equal(0.415888 + 0.584843, new VarifocalLoss(reduction: "sum").Forward(Pred, Target).item<float>(), 5);
    }

    [Fact]
    public void Refuses_softmax_and_mismatched_shapes()
    {
        Assert.Throws<DetSharpException>(() => new VarifocalLoss(useSigmoid: false));
        Assert.Throws<ArgumentException>(() => new VarifocalLoss().Forward(Pred, tensor(new float[] { 0.6f, 0, 0 }, [1, 3])));
    }
}
