using DetSharp.Models.Losses;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>GHMC and GHMR worked by hand on a few elements, then against MMDetection's values on a fixed batch.</summary>
public sealed class GhmLossTests
{
    // logits 0, ln(1/9), ln(1/9), 5 on one channel: p = 0.5, 0.1, 0.1, ~1; labels 0, bg, bg, bg (bg = 1 channel);
    // the last is ignored (label weight 0). g = 0.5 (bin 5), 0.1, 0.1 (bin 1): tot = 3 valid, 2 non-empty bins.
    private static readonly float Ln9 = (float)Math.Log(1.0 / 9);

    private static (Tensor Pred, Tensor Labels, Tensor Weights) ThreeValid() =>
        (tensor(new[] { 0f, Ln9, Ln9, 5f }).view(4, 1), tensor(new long[] { 0, 1, 1, 1 }), tensor(new[] { 1f, 1, 1, 0 }));

    [Fact]
    public void GHMC_WeightsEachElementByTheInverseCountOfItsBin()
    {
        using var loss = new GHMC(bins: 10);
        var (pred, labels, weights) = ThreeValid();
        // weights tot / count / bins: 3/1/2 = 1.5 for the p = 0.5 positive, 3/2/2 = 0.75 for the two easy negatives;
        // BCE log 2 and -log 0.9; sum / tot
        double expected = (1.5 * Math.Log(2) + 2 * 0.75 * -Math.Log(0.9)) / 3;
        Assert.Equal(expected, loss.Forward(pred, labels, weights, avgFactor: 99).item<float>(), 5);
        using var weighted = new GHMC(bins: 10, lossWeight: 2);
        Assert.Equal(2 * expected, weighted.Forward(pred, labels, weights).item<float>(), 5);
    }

    [Fact]
    public void GHMC_Momentum_CountsAreAMovingAverageKeptInAccSum()
    {
        using var loss = new GHMC(bins: 10, momentum: 0.5);
        var (pred, labels, weights) = ThreeValid();
        // call 1: acc_sum[1] = 0.5·0 + 0.5·2 = 1, acc_sum[5] = 0.5 -> weights 3/0.5/2 = 3 and 3/1/2 = 1.5
        Assert.Equal((3 * Math.Log(2) + 2 * 1.5 * -Math.Log(0.9)) / 3, loss.Forward(pred, labels, weights).item<float>(), 5);
        // call 2: acc_sum[1] = 0.5 + 1 = 1.5, acc_sum[5] = 0.25 + 0.5 = 0.75 -> weights 2 and 1
        Assert.Equal((2 * Math.Log(2) + 2 * 1 * -Math.Log(0.9)) / 3, loss.Forward(pred, labels, weights).item<float>(), 5);
        var acc = loss.State.named_buffers().ToDictionary(b => b.name, b => b.buffer)["acc_sum"].data<float>().ToArray();
        Assert.Equal([0f, 1.5f, 0, 0, 0, 0.75f, 0, 0, 0, 0], acc);
    }

    [Fact]
    public void GHMR_AuthenticSmoothL1_WeightedByGradientDensity()
    {
        using var loss = new GHMR(mu: 0.02, bins: 10);
        // d = 0 (g 0, bin 0, loss 0), 0.02 twice (g 1/sqrt 2, bin 7, loss 0.02(sqrt 2 - 1)), 5 with weight 0 (ignored)
        var pred = tensor(new[] { 0f, 0.02f, 0.02f, 5f }).view(1, 4);
        var weights = tensor(new[] { 1f, 1, 1, 0 }).view(1, 4);
        // tot = 3, weights 3/1/2 = 1.5 and 3/2/2 = 0.75: (2 · 0.75 · 0.02(sqrt 2 - 1)) / 3
        double expected = 2 * 0.75 * 0.02 * (Math.Sqrt(2) - 1) / 3;
        Assert.Equal(expected, loss.Forward(pred, zeros(1, 4), weights, avgFactor: 99).item<float>(), 6);
    }

    [Fact]
    public void GhmBuffers_AreMMDetectionsStateDictEntries()
    {
        using var c = new GHMC(bins: 30, momentum: 0.75);
        var buffers = c.State.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        Assert.Equal(new[] { "edges", "acc_sum" }, buffers.Keys.ToArray());
        Assert.Equal(31, buffers["edges"].shape[0]);
        Assert.Equal(1f + 1e-6f, buffers["edges"][30].item<float>());
        using var r = new GHMR(bins: 10);
        var rb = r.State.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        Assert.Equal(new[] { "edges" }, rb.Keys.ToArray()); // no acc_sum without momentum, as MMDetection
        Assert.Equal(1000f, rb["edges"][10].item<float>());
    }

    /// <summary>tools/oracle/ghm.py: two calls of each loss on random batches; the loss and acc_sum after each call.</summary>
    [Theory]
    [InlineData("ghmc_m0")]
    [InlineData("ghmc_zoo")]
    [InlineData("ghmr_m0")]
    [InlineData("ghmr_zoo")]
    public void MatchesMMDetection_OnAFixedBatch(string name)
    {
        using var fx = new OracleFixture("ghm", "ghm_losses.json");
        LossBase loss = name switch
        {
            "ghmc_m0" => new GHMC(bins: 10, momentum: 0),
            "ghmc_zoo" => new GHMC(bins: 30, momentum: 0.75),
            "ghmr_m0" => new GHMR(mu: 0.02, bins: 10, momentum: 0),
            _ => new GHMR(mu: 0.02, bins: 10, momentum: 0.7, lossWeight: 10),
        };
        using var owned = (IDisposable)loss;
        var state = ((IStatefulLoss)loss).State.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        Relative.Equal(fx.Float(name + "_edges").data<float>().ToArray(), state["edges"].data<float>().ToArray(), 1e-6, name + " edges");
        for (int step = 0; step < 2; step++)
        {
            var value = name.StartsWith("ghmc", StringComparison.Ordinal)
                ? loss.Forward(fx.Float($"cls_pred_{step}"), fx.Long($"cls_labels_{step}"), fx.Float($"cls_label_weights_{step}"), avgFactor: 123)
                : loss.Forward(fx.Float($"reg_pred_{step}"), fx.Float($"reg_target_{step}"), fx.Float($"reg_weights_{step}"), avgFactor: 123);
            Relative.Equal(fx.Scalar($"{name}_loss_{step}"), value.item<float>(), 1e-4, $"{name} loss, call {step + 1}");
            if (state.TryGetValue("acc_sum", out var acc))
                Relative.Equal(fx.Float($"{name}_acc_sum_{step}").data<float>().ToArray(), acc.data<float>().ToArray(), 1e-4, $"{name} acc_sum, call {step + 1}");
        }
    }
}
