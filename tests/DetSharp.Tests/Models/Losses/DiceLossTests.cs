using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>
/// DiceLoss against MMDetection 2.28.2's <c>DiceLoss</c> (values printed by the oracle at /work/oracle for the float32
/// logits and binary targets below, three samples of 2×2) and, for one sample, by hand.
/// </summary>
public sealed class DiceLossTests
{
    private static Tensor Pred() => tensor(new float[] { 0.5f, -1.0f, 2.0f, 0.0f, -0.3f, 1.2f, 0.7f, -2.0f, 1.5f, 1.5f, -0.5f, 0.25f }).view(3, 2, 2);

    private static Tensor Target() => tensor(new long[] { 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0 }).view(3, 2, 2);

    [Fact]
    public void VNetAndNaiveDice_WithEveryReduction_AreMmdetections()
    {
        Assert.Equal(0.46768292784690857, new DiceLoss().Forward(Pred(), Target()).item<float>(), 6);
        Assert.Equal(0.5570157170295715, new DiceLoss(naiveDice: true).Forward(Pred(), Target()).item<float>(), 6);
        var none = new DiceLoss(reduction: "none").Forward(Pred(), Target()).data<float>().ToArray();
        double[] mmdet = [0.13793939352035522, 0.26510941982269287, 1.0];
        for (int i = 0; i < 3; i++) Assert.Equal(mmdet[i], none[i], 6);
        // Sample 0 by hand: p = sigmoid(0.5, -1, 2, 0), t = (1, 0, 1, 0); 1 - 2(p0 + p2) / (Σp² + eps + 2 + eps).
        double[] p = [0.5, -1.0, 2.0, 0.0];
        var s = p.Select(v => 1 / (1 + Math.Exp(-v))).ToArray();
        Assert.Equal(1 - 2 * (s[0] + s[2]) / (s.Sum(v => v * v) + 1e-3 + 2 + 1e-3), none[0], 6);
    }

    [Fact]
    public void WeightAvgFactorLossWeightEpsAndActivate_AreMmdetections()
    {
        var w = tensor(new float[] { 1.0f, 0.5f, 2.0f });
        Assert.Equal(1.5554803609848022, new DiceLoss(lossWeight: 2, eps: 0.1).Forward(Pred(), Target(), w).item<float>(), 5);
        Assert.Equal(0.35076218843460083, new DiceLoss(activate: false).Forward(Pred().sigmoid(), Target(), avgFactor: 4).item<float>(), 6);
        Assert.Equal(2.483036994934082, new DiceLoss(naiveDice: true, reduction: "sum").Forward(Pred(), Target(), w).item<float>(), 5);
    }

    [Fact]
    public void BuildsFromConfig_AndRefusesSoftmaxDice()
    {
        var cfg = Config.Config.FromText("loss = dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True, "
            + "loss_weight=1.0, eps=1.0)", "dice.py").Get<ConfigDict>("loss");
        var loss = Builders.Model<DiceLoss>(cfg);
        Assert.True(loss.NaiveDice);
        Assert.Equal(1.0, loss.Eps);
        var e = Assert.Throws<DetSharpException>(() => new DiceLoss(useSigmoid: false));
        Assert.Contains("use_sigmoid", e.Message);
        Assert.Throws<DetSharpException>(() => new DiceLoss().Forward(Pred(), Target(), ones(2)));
    }
}
