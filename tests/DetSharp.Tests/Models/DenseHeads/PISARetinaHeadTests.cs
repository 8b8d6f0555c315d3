using DetSharp.Models.DenseHeads;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>PISARetinaHead against MMDetection on the fixed batch of tools/oracle/pisa.py (1e-4 relative).</summary>
public sealed class PISARetinaHeadTests
{
    [Fact]
    public void Losses_AndIsrReweighting_MatchMMDetection()
    {
        using var fx = new OracleFixture("pisa", "pisa_retina_loss.json");
        using var head = DenseHeadOracleBatch.BuildHead<PISARetinaHead>(fx);
        var (outs, gt, labels, metas) = DenseHeadOracleBatch.Load(fx);
        var losses = head.Loss(outs, gt, labels, metas);
        foreach (var key in new[] { "loss_cls", "loss_bbox", "loss_carl" })
            Relative.Equal(fx.Scalar(key), losses[key][0].item<float>(), 1e-4, key);
    }

    [Fact]
    public void IsrP_GivesMMDetectionsPositiveLabelWeights()
    {
        using var fx = new OracleFixture("pisa", "pisa_retina_loss.json");
        using var head = DenseHeadOracleBatch.BuildHead<PISARetinaHead>(fx);
        var (outs, gt, labels, metas) = DenseHeadOracleBatch.Load(fx);
        var weights = head.IsrLabelWeights(outs, gt, labels, metas);
        var posInds = fx.Long("pos_inds");
        var pos = nonzero((weights.Labels >= 0) & (weights.Labels < head.NumClasses)).view(-1);
        Assert.Equal(posInds.data<long>().ToArray(), pos.data<long>().ToArray());
        Relative.Equal(fx.Float("pos_label_weights_after").data<float>().ToArray(), weights.LabelWeights[pos].data<float>().ToArray(), 1e-4, "isr_p label weights");
        // the reweighting is not the identity on this batch
        Assert.True((fx.Float("pos_label_weights_after") - 1).abs().max().item<float>() > 0.1);
    }
}
