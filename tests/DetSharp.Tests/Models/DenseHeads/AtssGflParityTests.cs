using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>
/// ATSSHead and GFLHead against MMDetection 2.28.2 on the slim heads of <c>tests/fixtures/mmdet-2.28/{atss,gfl}/</c>
/// (made by <c>tools/oracle/atss_gfl.py</c>, see the README there): the same weights and features give the same
/// forward outputs, ATSS assignment, per-level losses and their input gradients (1e-4 relative) and detections (boxes
/// within 1e-3 px).
/// </summary>
public sealed class AtssGflParityTests
{
    private const double Rel = 1e-4, AbsFloor = 1e-5, GradFloor = 1e-7, BoxPx = 1e-3;

    private sealed class Fixture
    {
        private readonly PyDict _dict;

        public Fixture(string family, string name)
        {
            string dir = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", family);
            var cfg = Config.Config.FromFile(Path.Combine(dir, name + ".py"));
            _dict = (PyDict)TorchSerialization.Load(Path.Combine(dir, name + ".pth"))!;
            ComponentRegistration.EnsureRegistered();
            TrainCfg = cfg.Get<ConfigDict>("train_cfg");
            Head = Registries.Models.Build<AnchorHead>(Builders.With(cfg.Get<ConfigDict>("bbox_head"),
                ("train_cfg", TrainCfg), ("test_cfg", cfg.Get<ConfigDict>("test_cfg"))));
            var weights = _dict.Where(kv => ((string)kv.Key).StartsWith("state_dict.", StringComparison.Ordinal))
                .ToDictionary(kv => ((string)kv.Key)["state_dict.".Length..], kv => (Tensor)kv.Value!);
            var report = Checkpoint.LoadStateDict(Head, weights, strict: true);
            Assert.Equal(weights.Count, report.Loaded.Count);
            var pad = T("pad_shape").data<long>().ToArray();
            for (int i = 0; i < 2; i++)
            {
                var shape = T($"img_shape.{i}").data<long>().ToArray();
                var scale = T($"scale_factor.{i}").to_type(ScalarType.Float32).data<float>().ToArray();
                Metas.Add(new ImgMeta(((int)shape[0], (int)shape[1]), ((int)(shape[0] / scale[1]), (int)(shape[1] / scale[0])),
                    ((int)pad[0], (int)pad[1]), scale));
                GtBboxes.Add(T($"gt_bboxes.{i}"));
                GtLabels.Add(T($"gt_labels.{i}"));
            }
            Feats = Enumerable.Range(0, 5).Select(l => T($"feats.{l}")).ToArray();
        }

        public AnchorHead Head { get; }

        public ConfigDict TrainCfg { get; }

        public List<ImgMeta> Metas { get; } = [];

        public List<Tensor> GtBboxes { get; } = [];

        public List<Tensor> GtLabels { get; } = [];

        public Tensor[] Feats { get; }

        public Tensor T(string key) => _dict.GetOrNull(key) as Tensor ?? throw new KeyNotFoundException($"fixture has no tensor '{key}'");
    }

    private static void AssertClose(Tensor actual, Tensor expected, string what, double rel = Rel, double abs = AbsFloor)
    {
        Assert.Equal(expected.shape, actual.shape);
        if (expected.numel() == 0) return;
        var a = actual.detach().to_type(ScalarType.Float64);
        var e = expected.to_type(ScalarType.Float64);
        var excess = ((a - e).abs() - (e.abs() * rel + abs)).max().item<double>();
        Assert.True(excess <= 0, $"{what}: max |actual - expected| exceeds the tolerance by {excess:G3} (max deviation {(a - e).abs().max().item<double>():G3}).");
    }

    [Theory]
    [InlineData("atss", "atss_head_slim")]
    [InlineData("gfl", "gfl_head_slim")]
    public void ForwardOutputsAndLosses_MatchMmdetection(string family, string name)
    {
        var f = new Fixture(family, name);
        f.Head.train();
        var feats = f.Feats.Select(x => x.clone().requires_grad_()).ToArray();
        var outs = f.Head.Forward(feats);
        for (int l = 0; l < 5; l++)
        {
            AssertClose(outs.ClsScores[l], f.T($"out.cls.{l}"), $"{family} cls_score level {l}");
            AssertClose(outs.BboxPreds[l], f.T($"out.reg.{l}"), $"{family} bbox_pred level {l}");
            if (outs.ScoreFactors is { } ctr) AssertClose(ctr[l], f.T($"out.ctr.{l}"), $"{family} centerness level {l}");
        }
        Assert.Equal(family == "atss", outs.ScoreFactors is not null);

        var losses = f.Head.Loss(outs, f.GtBboxes, f.GtLabels, f.Metas);
        string[] expectedNames = family == "atss" ? ["loss_cls", "loss_bbox", "loss_centerness"] : ["loss_cls", "loss_bbox", "loss_dfl"];
        Assert.Equal(expectedNames, losses.Keys.ToArray());
        foreach (var (key, values) in losses.Items)
        {
            Assert.Equal(5, values.Length);
            for (int l = 0; l < 5; l++)
                AssertClose(values[l].reshape(Array.Empty<long>()), f.T($"loss.{key}.{l}"), $"{family} {key} level {l}");
        }
        // The levels with positives carry a box loss (the fixture has GTs on levels 0 and 1).
        Assert.True(losses["loss_bbox"][1].item<float>() > 0);

        // Backward: the gradient of the sum of all losses with respect to the input features.
        losses.Items.SelectMany(i => i.Values).Aggregate((a, b) => a + b).backward();
        for (int l = 0; l < 5; l++)
            AssertClose(feats[l].grad!, f.T($"grad.feats.{l}"), $"{family} d(loss)/d(feats) level {l}", abs: GradFloor);
    }

    [Theory]
    [InlineData("atss", "atss_head_slim")]
    [InlineData("gfl", "gfl_head_slim")]
    public void AtssAssignment_MatchesMmdetection(string family, string name)
    {
        var f = new Fixture(family, name);
        var assigner = Builders.TaskModule<ATSSAssigner>(f.TrainCfg.Get<ConfigDict>("assigner"));
        var sizes = f.Feats.Select(x => (x.shape[2], x.shape[3])).ToList();
        var anchors = f.Head.AnchorGenerator.GridPriors(sizes);
        for (int i = 0; i < 2; i++)
        {
            var result = assigner.Assign(cat(anchors, 0), anchors.Select(a => a.shape[0]).ToList(), f.GtBboxes[i], null, f.GtLabels[i]);
            var expected = f.T($"assign.gt_inds.{i}");
            Assert.True((expected > 0).sum().item<long>() > 0);
            Assert.Equal(expected.data<long>().ToArray(), result.GtInds.data<long>().ToArray());
        }
    }

    [Theory]
    [InlineData("atss", "atss_head_slim")]
    [InlineData("gfl", "gfl_head_slim")]
    public void Detections_MatchMmdetection(string family, string name)
    {
        var f = new Fixture(family, name);
        f.Head.eval();
        var dets = f.Head.SimpleTest(f.Feats, f.Metas, rescale: true);
        for (int i = 0; i < 2; i++)
        {
            var expected = f.T($"det.bboxes.{i}");
            Assert.True(expected.shape[0] > 0);
            Assert.Equal(expected.shape, dets[i].Dets.shape);
            AssertClose(dets[i].Dets[.., ..4], expected[.., ..4], $"{family} image {i} boxes", rel: 0, abs: BoxPx);
            AssertClose(dets[i].Dets[.., 4], expected[.., 4], $"{family} image {i} scores");
            Assert.Equal(f.T($"det.labels.{i}").data<long>().ToArray(), dets[i].Labels.data<long>().ToArray());
        }
    }
}
