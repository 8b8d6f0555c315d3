using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>
/// BalancedL1Loss against MMDetection 2.28.2's <c>BalancedL1Loss</c> (values printed by the oracle at /work/oracle for
/// these float64 inputs: pred [0.5, 2, 0.1, 1, −0.3, 0], target 0) and its closed form.
/// </summary>
public sealed class BalancedL1LossTests
{
    private static readonly double[] Pred = [0.5, 2.0, 0.1, 1.0, -0.3, 0.0];

    [Fact]
    public void ElementwiseLoss_IsMmdetections()
    {
        double[] mmdet = [0.4005675069053246, 2.5785935447368837, 0.03135308565147102, 1.078593544736884, 0.18582080403377318, 0.0];
        var loss = new BalancedL1Loss(reduction: "none").Forward(tensor(Pred), zeros(6, ScalarType.Float64));
        var values = loss.data<double>().ToArray();
        for (int i = 0; i < mmdet.Length; i++) Assert.Equal(mmdet[i], values[i], 12);
        // Closed form at d = 0.5 (< beta): b = e^3 - 1, alpha / b * (b d + 1) ln(b d + 1) - alpha d.
        double b = Math.Exp(3) - 1;
        Assert.Equal(0.5 / b * (b * 0.5 + 1) * Math.Log(b * 0.5 + 1) - 0.25, values[0], 12);
        // At d = 2 (>= beta): gamma d + gamma / b - alpha beta.
        Assert.Equal(3 + 1.5 / b - 0.5, values[1], 12);
    }

    [Fact]
    public void WeightsAvgFactorLossWeightAndOtherParameters_AreMmdetections()
    {
        var target = zeros(6, ScalarType.Float64);
        var w = tensor(new double[] { 1, 1, 1, 0, 1, 1 });
        Assert.Equal(2.1308898762110124, new BalancedL1Loss(lossWeight: 2).Forward(tensor(Pred), target, w, avgFactor: 3).item<double>(), 6);
        Assert.Equal(7.249680431739106, new BalancedL1Loss(alpha: 0.25, gamma: 2, beta: 0.5, reduction: "sum").Forward(tensor(Pred), target).item<double>(), 10);
    }
}
