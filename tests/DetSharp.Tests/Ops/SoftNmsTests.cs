using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Ops;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>
/// Soft-NMS as mmcv 1.7.1's CPU op and MMDetection 2.28.2's <c>batched_nms</c>/<c>multiclass_nms</c> run it:
/// hand-calculated cases, and <c>tests/fixtures/mmdet-2.28/soft_nms/soft_nms.json</c> (made by
/// <c>tools/oracle/soft_nms.py</c>, MMDetection's own batched_nms and multiclass_nms over a float32 transcription of
/// mmcv's kernel, which the oracle does not build).
/// </summary>
public sealed class SoftNmsTests
{
    private static Tensor Boxes(params float[][] rows) => tensor(rows.SelectMany(r => r).ToArray()).reshape(-1, 4);

    [Fact]
    public void Hand_calculated_rescoring_of_each_method()
    {
        using var scope = NewDisposeScope();
        // IoU of the two boxes = 50 / 100 = 0.5.
        var boxes = Boxes([0, 0, 10, 10], [0, 0, 10, 5]);
        var scores = tensor(new[] { 0.9f, 0.8f });

        var (linear, keep) = Nms.SoftNms(boxes, scores, 0.3);
        Assert.Equal(new long[] { 0, 1 }, keep.data<long>().ToArray());
        Assert.Equal(0.8f * (1 - 0.5f), linear[1, 4].item<float>(), 6);

        var (gaussian, _) = Nms.SoftNms(boxes, scores, 0.3, sigma: 0.5, method: "gaussian");
        Assert.Equal(0.8 * Math.Exp(-0.25 / 0.5), gaussian[1, 4].item<float>(), 6);

        var (naive, naiveKeep) = Nms.SoftNms(boxes, scores, 0.3, method: "naive");
        Assert.Equal(new long[] { 0 }, naiveKeep.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 5 }, naive.shape);

        // Below the threshold linear keeps the score; the higher-scored second box is selected first.
        var (below, belowKeep) = Nms.SoftNms(boxes, tensor(new[] { 0.7f, 0.8f }), 0.6);
        Assert.Equal(new long[] { 1, 0 }, belowKeep.data<long>().ToArray());
        Assert.Equal(0.7f, below[1, 4].item<float>());

        // A rescored score under min_score drops the box.
        var (_, dropped) = Nms.SoftNms(boxes, scores, 0.3, minScore: 0.5);
        Assert.Equal(new long[] { 0 }, dropped.data<long>().ToArray());
    }

    [Theory]
    [InlineData("linear", "soft_nms", 0.3, "linear", 0.5, 0.05, 0, 10000, -1)]
    [InlineData("gaussian", "soft_nms", 0.5, "gaussian", 0.5, 0.05, 0, 10000, -1)]
    [InlineData("naive", "soft_nms", 0.3, "naive", 0.5, 1e-3, 0, 10000, -1)]
    [InlineData("linear_offset1", "soft_nms", 0.3, "linear", 0.5, 1e-3, 1, 10000, -1)]
    [InlineData("gaussian_split", "soft_nms", 0.5, "gaussian", 0.5, 0.05, 0, 10, 20)]
    public void Batched_nms_equals_mmdetections(string name, string type, double iou, string method, double sigma, double minScore, int offset, int split, int maxNum)
    {
        using var fixture = new OracleFixture("soft_nms", "soft_nms.json");
        using var scope = NewDisposeScope();
        var cfg = new NmsConfig(iou, type, split, Offset: offset, MaxNum: maxNum, Sigma: sigma, MinScore: minScore, Method: method);

        var (dets, keep) = Nms.BatchedNms(fixture.Float("boxes"), fixture.Float("scores"), fixture.Long("idxs"), cfg);

        Assert.Equal(fixture.Long($"batched.{name}.keep").data<long>().ToArray(), keep.data<long>().ToArray());
        Assert.True(dets.allclose(fixture.Float($"batched.{name}.dets"), rtol: 1e-6, atol: 1e-7));
    }

    [Fact]
    public void Multiclass_nms_with_the_soft_nms_config_equals_mmdetections()
    {
        using var fixture = new OracleFixture("soft_nms", "soft_nms.json");
        using var scope = NewDisposeScope();
        var nms = Builders.Nms(PyConfigParser.Evaluate("nms = dict(type='soft_nms', iou_threshold=0.5)\n").Get<ConfigDict>("nms"));

        var r = Nms.MulticlassNms(fixture.Float("multi.bboxes"), fixture.Float("multi.scores"), 0.05, nms, maxNum: 30);

        Assert.Equal(fixture.Long("multi.labels").data<long>().ToArray(), r.Labels.data<long>().ToArray());
        Assert.True(r.Dets.allclose(fixture.Float("multi.dets"), rtol: 1e-6, atol: 1e-7));
    }

    [Theory]
    [InlineData("nms = dict(type='nms_rotated', iou_threshold=0.5)\n", "'nms': nms_cfg: type 'nms_rotated' is not implemented; DetSharp supports type='nms' or 'soft_nms'.")]
    [InlineData("nms = dict(type='soft_nms', iou_threshold=0.5, max_per_img=3)\n", "'nms': nms_cfg: unknown key 'max_per_img' for type='soft_nms'.")]
    [InlineData("nms = dict(type='nms', iou_threshold=0.5, sigma=0.5)\n", "'nms': nms_cfg: unknown key 'sigma' for type='nms'.")]
    [InlineData("nms = dict(type='soft_nms', method='cubic')\n", "'nms': nms_cfg: method 'cubic' of soft_nms is not one of naive, linear, gaussian.")]
    public void Unknown_types_keys_and_methods_are_named(string text, string message)
    {
        var e = Assert.Throws<DetSharpException>(() => Builders.Nms(PyConfigParser.Evaluate(text).Get<ConfigDict>("nms")));

        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void Soft_nms_defaults_are_mmcvs()
    {
        var cfg = NmsConfig.FromDictionary(new Dictionary<string, object?> { ["type"] = "soft_nms" });

        Assert.Equal(new NmsConfig(0.3, "soft_nms", Sigma: 0.5, MinScore: 1e-3, Method: "linear"), cfg);
    }
}
