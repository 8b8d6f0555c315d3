using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>
/// RetinaSepBNHead against MMDetection 2.28.2 on <c>tests/fixtures/mmdet-2.28/retina_sepbn</c> (made by
/// <c>tools/oracle/retina_sepbn.py</c>, see its README): the slim head with MMDetection's weights (convs shared by the two
/// levels, each level's BN its own) on random features — state-dict keys, outputs in training mode (batch statistics)
/// and in eval mode, the losses, the shared convs' gradients (summed over the levels) and each level's running mean,
/// within 1e-5.
/// </summary>
public sealed class RetinaSepBNHeadTests
{
    private const double Tolerance = 1e-5;

    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "retina_sepbn");

    private static (RetinaSepBNHead Head, Dictionary<string, Tensor> Weights) Load()
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = Config.Config.FromFile(Path.Combine(Folder, "head_config.py")).Get<ConfigDict>("head");
        var head = Registries.Models.Build<RetinaSepBNHead>(cfg);
        var weights = PretrainedWeights.Read(Path.Combine(Folder, "weights.pth"));
        Assert.Equal(weights.Keys, ModuleTools.StateDict(head).Select(e => e.Key));
        Assert.True(Checkpoint.LoadStateDict(head, weights, strict: true).ExactMatch);
        return (head, weights);
    }

    [Fact]
    public void StateDict_ListsTheSharedConvsUnderEveryLevel_AndParametersOnce()
    {
        using var scope = NewDisposeScope();
        var (head, _) = Load();
        using var _ = head;
        var sd = ModuleTools.StateDict(head).ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal(52, sd.Count);
        Assert.Equal(sd["cls_convs.0.1.conv.weight"].Handle, sd["cls_convs.1.1.conv.weight"].Handle);
        Assert.Equal(sd["reg_convs.0.0.conv.weight"].Handle, sd["reg_convs.1.0.conv.weight"].Handle);
        Assert.NotEqual(sd["cls_convs.0.0.bn.weight"].Handle, sd["cls_convs.1.0.bn.weight"].Handle);
        // 4 shared convs, 2 levels × 2 towers × 2 layers of BN weight and bias, the two predictors' weights and biases:
        // what MMDetection's parameters() gives the optimizer.
        Assert.Equal(24, head.parameters().Count());
    }

    [Fact]
    public void Training_OutputsLossesAndGradients_MatchMMDetection()
    {
        using var scope = NewDisposeScope();
        var (head, _) = Load();
        using var _ = head;
        using var fx = new OracleFixture("retina_sepbn", "outputs.json");
        head.train();
        var outs = head.Forward(fx.Floats("feats"));
        AssertClose("train cls_scores", fx.Floats("train_cls_scores"), outs.ClsScores);
        AssertClose("train bbox_preds", fx.Floats("train_bbox_preds"), outs.BboxPreds);
        var losses = head.Loss(outs, fx.Floats("gt_bboxes"), fx.Longs("gt_labels"), [ImgMeta.Unscaled(64, 64), ImgMeta.Unscaled(64, 64)]);
        var lossCls = losses["loss_cls"].Aggregate((a, b) => a + b);
        var lossBbox = losses["loss_bbox"].Aggregate((a, b) => a + b);
        Relative.Equal(fx.Scalar("loss_cls"), lossCls.item<float>(), Tolerance, "loss_cls");
        Relative.Equal(fx.Scalar("loss_bbox"), lossBbox.item<float>(), Tolerance, "loss_bbox");
        (lossCls + lossBbox).backward();
        var sd = ModuleTools.StateDict(head).ToDictionary(e => e.Key, e => e.Value);
        AssertClose("grad cls_convs.0.0.conv.weight", [fx.Float("grad_cls_conv0")], [sd["cls_convs.0.0.conv.weight"].grad!]);
        AssertClose("grad reg_convs.0.1.conv.weight", [fx.Float("grad_reg_conv1")], [sd["reg_convs.0.1.conv.weight"].grad!]);
        AssertClose("grad cls_convs.1.0.bn.weight", [fx.Float("grad_cls_bn0_level1")], [sd["cls_convs.1.0.bn.weight"].grad!]);
        AssertClose("running_mean cls_convs.N.0.bn", fx.Floats("running_mean_cls0"),
            [sd["cls_convs.0.0.bn.running_mean"], sd["cls_convs.1.0.bn.running_mean"]]);
    }

    [Fact]
    public void Eval_Outputs_MatchMMDetection()
    {
        using var scope = NewDisposeScope();
        var (head, _) = Load();
        using var _ = head;
        using var fx = new OracleFixture("retina_sepbn", "outputs.json");
        head.eval();
        using var noGrad = no_grad();
        var outs = head.Forward(fx.Floats("feats"));
        AssertClose("eval cls_scores", fx.Floats("eval_cls_scores"), outs.ClsScores);
        AssertClose("eval bbox_preds", fx.Floats("eval_bbox_preds"), outs.BboxPreds);
    }

    [Fact]
    public void MoreLevelsThanNumIns_AreRefused()
    {
        using var scope = NewDisposeScope();
        var (head, _) = Load();
        using var _ = head;
        var feats = new[] { zeros(1, 8, 8, 8), zeros(1, 8, 4, 4), zeros(1, 8, 2, 2) };
        var e = Assert.Throws<DetSharpException>(() => head.Forward(feats));
        Assert.Contains("num_ins=2", e.Message);
    }

    /// <summary>Every element within 1e-5 of max(|expected|, mean |expected|) of its tensor.</summary>
    private static void AssertClose(string what, IReadOnlyList<Tensor> expected, IReadOnlyList<Tensor> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int t = 0; t < expected.Count; t++)
        {
            Assert.Equal(expected[t].shape, actual[t].shape);
            var e = expected[t].to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            var a = actual[t].detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            double meanAbs = e.Average(Math.Abs);
            for (int i = 0; i < e.Length; i++)
                Assert.True(Math.Abs(e[i] - a[i]) <= Tolerance * Math.Max(Math.Abs(e[i]), meanAbs), $"{what}[{t}] value {i}: {a[i]:R}, MMDetection {e[i]:R}");
        }
    }
}
